"""Every script in examples/ runs at a tiny size and exits 0."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "metrics_on_features.py": ["--n", "5"],
    "train_ufm.py": ["--seeds", "2", "--steps", "50", "--d", "12"],
    "measure_network.py": ["--n", "10", "--epochs", "2"],
}


def test_every_example_has_a_tiny_size():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_runs(name):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name), *TINY[name]],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
