"""Results are written whole or not at all: an error while writing leaves no file and no temporary."""
import numpy as np
import pytest

from nclab import train
from nclab.ufm.spec import UFMSpec


def test_ufm_result_save_interrupted_leaves_nothing(tmp_path, monkeypatch):
    res = train(UFMSpec.garrod(3, 2, 4, 2, 0.01), seeds=[0], steps=3, metrics=False, progress=False)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        res.save(tmp_path / "out")
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))
    monkeypatch.undo()
    paths = res.save(tmp_path / "out")
    assert [p.name for p in paths] == ["params.npz", "history.csv", "result.json"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["history.csv", "params.npz", "result.json"]
    assert np.load(paths[0])["seeds"].tolist() == [0]


def test_report_pages_are_written_atomically(tmp_path, monkeypatch):
    """A failure at the rename (after the page was rendered and written to its temporary) leaves nothing."""
    import nclab._json
    from nclab.report import html

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nclab._json.os, "replace", fail)
    with pytest.raises(OSError):
        html.write_report({"experiments": []}, tmp_path / "index.html")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    html.write_report({"experiments": []}, tmp_path / "index.html")
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
