import sys

from nclab.cli import main

sys.exit(main())
