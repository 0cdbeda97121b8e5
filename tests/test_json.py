"""nclab._json: one converter, NaN and +-inf written as null, every output standard JSON."""
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nclab import _json
from nclab.experiments import registry


def _strict(text):
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))


@dataclass
class _Point:
    x: float
    y: tuple


def test_non_finite_numbers_become_null_everywhere():
    value = {
        "f": math.nan, "inf": math.inf, "ninf": -math.inf, "np": np.float32("nan"), "ok": np.float64(0.5),
        "arr": np.array([1.0, np.nan, np.inf]), "tensor": torch.tensor([[-math.inf, 2.0]]),
        "int": np.int64(3), "bool": np.bool_(True), 7: "key", "tuple": (1, math.nan),
        "dc": _Point(math.nan, (1, 2)), "path": Path("a/b"), "na": pd.NA, "nat": pd.NaT,
    }
    out = _strict(_json.dumps(value))
    assert out == {
        "f": None, "inf": None, "ninf": None, "np": None, "ok": 0.5, "arr": [1.0, None, None],
        "tensor": [[None, 2.0]], "int": 3, "bool": True, "7": "key", "tuple": [1, None],
        "dc": {"x": None, "y": [1, 2]}, "path": "a/b", "na": None, "nat": None,
    }
    assert type(out["int"]) is int and type(out["bool"]) is bool


def test_dumps_takes_json_dumps_arguments():
    assert _json.dumps({"b": 1, "a": math.inf}, sort_keys=True, default=str, allow_nan=True) == '{"a": null, "b": 1}'
    assert _json.dumps([1.5], indent=2) == "[\n  1.5\n]"
    assert _json.loads("[null]") == [None]


def test_non_finite_names_the_kinds_found():
    assert _json.non_finite({"a": [1.0, 2]}) == []
    assert _json.non_finite(np.array([np.inf, np.nan])) == ["NaN", "inf"]
    assert _json.non_finite({"a": (-math.inf,), "t": torch.tensor([1.0])}) == ["-inf"]
    assert _json.non_finite("nan") == [] and _json.non_finite(np.arange(3)) == []


def test_registry_keeps_the_name_and_uses_the_one_converter():
    assert registry.to_jsonable is _json.to_jsonable
    claim = registry.Claim("c", "t", "s", "< 1", np.array([np.nan, 0.0]), False)
    assert claim.to_dict()["measured"] == [None, 0.0]
    assert claim.to_dict()["note"] == "measured value had NaN (written as null)"
    noted = registry.Claim("c", "t", "s", "< 1", math.inf, False, note="diverged")
    assert noted.to_dict()["note"] == "diverged; measured value had inf (written as null)"
    assert "note" not in registry.Claim("c", "t", "s", "< 1", 0.5, True).to_dict()
