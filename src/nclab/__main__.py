"""``python -m nclab``: the same entry point as the ``nclab`` command (:mod:`nclab._entry`)."""
import sys

from nclab._entry import main

sys.exit(main())
