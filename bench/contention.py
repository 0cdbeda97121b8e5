"""``nclab reproduce --quick --only garrod2025`` alone and beside two CPU-bound processes.

A user's machine is rarely idle. This benchmark times the quick reproduction of one paper
alone and again while two other processes keep the cores busy (pure-Python busy loops, or
torch matmul loops with ``--load matmul``), interleaved (alone, loaded, alone, loaded, ...),
and prints the best time of each and their ratio. With a fair share of the cores a run beside
two busy processes on a 2-core machine should take about 2-3x as long; torch's intra-op
threads spinning against the other processes made it tens of times slower (issue 17).

    python bench/contention.py [--only garrod2025] [--rounds 2] [--load busy|matmul]
                               [--timeout 1800] [-- EXTRA NCLAB ARGS]

Each run is a fresh ``python -m nclab reproduce`` process (start-up and imports included), so
``PYTHONPATH`` selects the nclab that is measured. ``--threads`` is passed through to nclab
only when given here.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

BUSY = "while True:\n    pass\n"
MATMUL = ("import torch\nx = torch.randn(512, 512)\nwhile True:\n    x = torch.tanh(x @ x / 512)\n")


def start_load(kind: str, count: int) -> list[subprocess.Popen]:
    """``count`` CPU-bound background processes (``busy``: Python loops; ``matmul``: torch)."""
    code = BUSY if kind == "busy" else MATMUL
    return [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def time_run(cmd: list[str], timeout: float) -> float:
    """Wall seconds of one run (``inf`` past ``timeout``); a failed run is an error."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return float("inf")
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: some claims failed; the timing still counts
        raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="garrod2025", help="paper or experiment(s) for --only (default garrod2025)")
    parser.add_argument("--rounds", type=int, default=2, help="alone/loaded pairs (default 2); best of each")
    parser.add_argument("--load", choices=("busy", "matmul"), default="busy", help="the background processes")
    parser.add_argument("--procs", type=int, default=2, help="background processes (default 2)")
    parser.add_argument("--threads", help="pass --threads to nclab reproduce (default: not passed)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run counts as inf")
    parser.add_argument("extra", nargs="*", help="more arguments for nclab reproduce")
    args = parser.parse_args(argv)
    out = tempfile.mkdtemp(prefix="nclab-contention-")
    cmd = [sys.executable, "-m", "nclab", "reproduce", "--quick", "--only", args.only, "--out", out, "--no-progress"]
    if args.threads:
        cmd += ["--threads", args.threads]
    cmd += args.extra
    import nclab

    print(f"nclab from {os.path.dirname(nclab.__file__)}; cores {os.cpu_count()}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(not set)')}")
    print("command: " + " ".join(cmd[1:]))
    alone, loaded = [], []
    for r in range(args.rounds):
        alone.append(time_run(cmd, args.timeout))
        print(f"round {r + 1}: alone {alone[-1]:8.1f} s", flush=True)
        procs = start_load(args.load, args.procs)
        try:
            time.sleep(0.5)
            loaded.append(time_run(cmd, args.timeout))
        finally:
            stop_load(procs)
        print(f"round {r + 1}: beside {args.procs} {args.load} processes {loaded[-1]:8.1f} s", flush=True)
    best_alone, best_loaded = min(alone), min(loaded)
    ratio = (f"{best_loaded / best_alone:.2f}x" if best_loaded < float("inf")
             else f"> {args.timeout / best_alone:.1f}x (the loaded runs passed --timeout {args.timeout:g} s)")
    print(f"best alone {best_alone:.1f} s, best beside {args.procs} {args.load} processes {best_loaded:.1f} s, "
          f"ratio {ratio} (target <= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
