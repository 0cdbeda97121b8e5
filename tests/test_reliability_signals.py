"""Ctrl-C while ``nclab`` is still importing (issue 19 item 5): before ``nclab.cli.main`` installs
its handler, the parser is being built from every subcommand's module and torch is loading.
The console entry point (:mod:`nclab._entry`) catches the interrupt there too: exit 130, one
line on stderr, no traceback, no file written.

The signal is sent a fixed delay after the child has started loading torch's libraries (seen
in ``/proc/PID/maps``), so it lands in nclab's imports whatever the machine's load; a delay
counted from the process start would, on a loaded machine, land in the interpreter's own
start-up (``site`` and the ``.pth`` files of the environment), which no nclab code runs in.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")

#: A verb that works for far longer than the test waits: the signal always finds it busy.
LONG = ["train", "--preset", "garrod", "--seeds", "0:1", "--set", "steps=100000", "--set", "tol=0"]


def _loading_torch(pid: int) -> bool:
    try:
        return "libtorch" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _interrupt(argv: list[str], delay: float, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and not _loading_torch(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the command ended before torch was imported"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _script() -> list[str]:
    script = Path(sys.executable).with_name("nclab")
    found = str(script) if script.exists() else shutil.which("nclab")
    if found is None:
        pytest.skip("the nclab console script is not installed")
    return [found]


@pytest.mark.parametrize("entry,delay", [("script", 0.05), ("module", 0.2), ("script", 0.5)])
def test_ctrl_c_during_the_imports_is_exit_130(entry, delay, tmp_path):
    argv = (_script() if entry == "script" else [sys.executable, "-m", "nclab"]) + LONG
    proc = _interrupt(argv, delay, tmp_path)
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "KeyboardInterrupt" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].endswith("interrupted"), proc.stderr
    assert list(tmp_path.iterdir()) == [], "an interrupted command left files behind"


def test_console_script_points_at_the_entry_module():
    """pyproject's [project.scripts] and ``python -m nclab`` both go through nclab._entry."""
    root = Path(__file__).resolve().parents[1]
    assert 'nclab = "nclab._entry:main"' in (root / "pyproject.toml").read_text()
    assert "from nclab._entry import main" in (root / "src" / "nclab" / "__main__.py").read_text()


def test_entry_module_imports_nothing_heavy():
    """Importing the entry point loads neither the CLI nor torch (the window before its ``try``)."""
    code = ("import sys\nimport nclab._entry\n"
            "heavy = [m for m in ('torch', 'numpy', 'nclab.cli', 'argparse', 'typing') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout
