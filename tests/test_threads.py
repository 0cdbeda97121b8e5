"""The thread policy (nclab._threads): the user's choice wins, blocks restore, the CLI checks --threads."""
from __future__ import annotations

import os

import pytest
import torch

import nclab
from nclab import _threads
from nclab.cli import THREADED, main

MULTI = pytest.mark.skipif(_threads.cores() < 2, reason="needs two cores to tell one thread from all")


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
    assert not _threads._explicit and not _threads._policy


@pytest.fixture
def auto(monkeypatch):
    """No user choice: no environment variable, torch at its default count."""
    for name in _threads.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(_threads.torch_default())
    assert _threads.user_threads() is None


@MULTI
def test_auto_uses_one_thread_for_small_work_and_every_core_for_large(auto):
    before = torch.get_num_threads()
    with _threads.for_work(_threads.THRESHOLD / 10) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before
    with _threads.for_work(_threads.THRESHOLD * 10) as n:
        assert n == _threads.cores() == torch.get_num_threads()
    assert torch.get_num_threads() == before


@MULTI
@pytest.mark.parametrize("name", _threads.ENV_VARS)
def test_auto_keeps_the_count_of_the_environment_variable(auto, monkeypatch, name):
    monkeypatch.setenv(name, str(_threads.torch_default()))
    assert _threads.user_threads() == torch.get_num_threads()
    with _threads.for_work(0.0) as n:
        assert n == torch.get_num_threads() == _threads.torch_default()


@MULTI
def test_auto_keeps_an_explicit_torch_set_num_threads(auto):
    torch.set_num_threads(1)  # the user's choice (the default is all cores)
    assert _threads.user_threads() == 1
    with _threads.for_work(_threads.THRESHOLD * 100) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 1


@MULTI
def test_threads_block_sets_and_restores_even_on_error(auto):
    before = torch.get_num_threads()
    with nclab.threads(1) as n:
        assert n == 1 == torch.get_num_threads() and _threads.explicit() == 1
        with _threads.for_work(_threads.THRESHOLD * 100):  # the explicit count wins over auto
            assert torch.get_num_threads() == 1
        with nclab.threads(2):
            assert torch.get_num_threads() == 2 and _threads.explicit() == 2
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before and _threads.explicit() is None
    with pytest.raises(RuntimeError):
        with nclab.threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with nclab.threads("auto") as n:
        assert n is None and torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, (os.cpu_count() or 1) + 1, "x", "1.5", 2.0, True, ""])
def test_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match=r"threads must be 'auto' or an integer in 1\.\."):
        with nclab.threads(bad):
            pass


@MULTI
def test_train_decides_per_call_and_leaves_the_count_as_it_was(auto, monkeypatch):
    seen = []
    original = _threads.for_work

    def spy(work):
        cm = original(work)

        class Wrap:
            def __enter__(self):
                n = cm.__enter__()
                seen.append((work, n, torch.get_num_threads()))
                return n

            def __exit__(self, *exc):
                return cm.__exit__(*exc)
        return Wrap()

    monkeypatch.setattr(_threads, "for_work", spy)
    before = torch.get_num_threads()
    spec = nclab.UFMSpec.garrod(K=3, n=2, d=4, L=2, lam=1e-3)
    out = nclab.train(spec, seeds=2, steps=3, lr=0.1)
    # the first decision is train's, for the whole call; each recorded history row then decides for its
    # own metric ops (2 S K d N flops, ufm.measure.layer_metrics), nested inside it; all are one thread here
    S, N = 2, spec.K * spec.n
    rows = len(out.history) // S
    assert seen[0] == (_threads.ufm_work(spec, 2), 1, 1)
    assert seen[1:] == [(2.0 * S * spec.K * spec.d * N, 1, 1)] * rows and rows >= 2
    assert torch.get_num_threads() == before


def test_cli_threads_is_checked_before_any_work(capsys, tmp_path):
    code = main(["train", "--threads", "many", "--seeds", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("nclab train: error: --threads must be 'auto' or an integer in 1..")
    assert err.endswith("got 'many'")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("verb, rest", [
    ("train", []), ("run", ["garrod2025-fig1"]), ("reproduce", []), ("metrics", ["f.npz"]),
    ("measure", ["model.pt", "--data", "x"]), ("sweep", ["ufm", "--seeds", "0:2", "--store", "s.sqlite"]),
])
def test_every_computing_verb_takes_threads(verb, rest, capsys):
    assert verb in THREADED
    from nclab.cli import build_parser

    assert build_parser().parse_args([verb, *rest, "--threads", "1"]).threads == "1"
    assert main([verb, *rest, "--threads", "0"]) == 2
    assert "--threads must be" in capsys.readouterr().err


def test_cli_threads_applies_to_the_command_and_is_undone(monkeypatch):
    import nclab.ufm._cli as ufm_cli

    seen = []
    monkeypatch.setattr(ufm_cli, "main_train", lambda args: seen.append(
        (torch.get_num_threads(), _threads.explicit())) or 0)
    before = torch.get_num_threads()
    assert main(["train", "--threads", "1"]) == 0
    assert torch.get_num_threads() == before
    assert main(["train"]) == 0
    assert torch.get_num_threads() == before
    # without --threads, train is small work (cli.SMALL_WORK): the auto policy's count for it unless the
    # count in force already is a user's choice (torch set away from its default, or OMP_NUM_THREADS),
    # which the policy keeps. (This test used to expect torch's previous count in every case, and passed
    # only when earlier tests had left the process in the second state.)
    policy = before if _threads.user_threads() is not None else _threads.choose(0.0)
    assert seen == [(1, 1), (policy, None)]
    assert torch.get_num_threads() == before


@MULTI
def test_cli_auto_runs_small_work_verbs_on_one_thread(auto, monkeypatch):
    import nclab.metrics._cli as metrics_cli
    import nclab.ufm._cli as ufm_cli

    seen = []
    record = lambda args: seen.append(torch.get_num_threads()) or 0  # noqa: E731
    monkeypatch.setattr(ufm_cli, "main_train", record)
    monkeypatch.setattr(metrics_cli, "main_metrics", record)
    before = torch.get_num_threads()
    assert main(["train"]) == 0 and main(["metrics", "f.npz"]) == 0 and main(["train", "--threads", "2"]) == 0
    assert seen == [1, before, 2] and torch.get_num_threads() == before


def test_pool_workers_get_one_thread_unless_told(monkeypatch):
    from nclab.sweep.local_executor import LocalExecutor

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    counts = {}
    for label, asked in (("default", None), ("told", min(2, os.cpu_count() or 1))):
        with nclab.threads(asked or "auto"):
            ex = LocalExecutor(1)
        try:
            counts[label] = ex.submit(torch.get_num_threads).result(timeout=120)
        finally:
            ex.close()
    assert counts == {"default": 1, "told": min(2, os.cpu_count() or 1)}
