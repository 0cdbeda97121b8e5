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
    "sweep_to_sqlite.py": ["--seeds", "3", "--steps", "100", "--widths", "4,32"],
    "track_digits.py": ["--epochs", "2", "--n", "20"],
}
WRITES = {"sweep_to_sqlite.py": ["sweep.sqlite", "p_dnc_vs_d.png"], "track_digits.py": ["collapse.csv", "collapse.png"]}


def test_every_example_has_a_tiny_size():
    assert sorted(p.name for p in (ROOT / "examples").glob("*.py")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_runs(name, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = ["--out", str(tmp_path / "out")] if name in WRITES else []
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name), *TINY[name], *out],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    for written in WRITES.get(name, []):
        assert (tmp_path / "out" / written).stat().st_size > 0, written
