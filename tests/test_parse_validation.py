"""The command-line value parser and the shared validation messages."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from nclab._parse import parse_assignments, parse_value
from nclab._tensor import as_float_tensor, as_labels
from nclab._validation import check_choice, check_int, check_real


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("2**-10", 2**-10),
        ("1e-3", 1e-3),
        ("-0.5", -0.5),
        ("1/4", 0.25),
        ("[1, 2, 2**3]", [1, 2, 8]),
        ("(0.1, 0.2)", (0.1, 0.2)),
        ("True", True),
        ("None", None),
        ("relu", "relu"),
        ("'ce'", "ce"),
        ("cuda:0", "cuda:0"),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_parse_value_never_evaluates_code():
    # names, calls and attribute access stay strings: nothing is executed
    for text in ["__import__('os').system('true')", "open('x')", "(1).real", "9**9**9**9"]:
        assert parse_value(text) == text


@given(st.floats(allow_nan=False, allow_infinity=False), st.integers(-5, 5))
def test_parse_value_float_roundtrip(x, e):
    assert parse_value(repr(x)) == x
    assert math.isclose(parse_value(f"2**{e}"), 2.0**e)


def test_parse_assignments():
    assert parse_assignments(["K=10", "lam=2**-10", "activation=relu"]) == {
        "K": 10,
        "lam": 2**-10,
        "activation": "relu",
    }
    with pytest.raises(ValueError, match="--set must be given as key=value, got 'K'"):
        parse_assignments(["K"])
    with pytest.raises(ValueError, match="key=value"):
        parse_assignments(["1x=3"])


def test_validation_messages_name_parameter_value_and_range():
    with pytest.raises(ValueError, match=r"K must be an integer >= 2, got 1"):
        check_int("K", 1, minimum=2)
    with pytest.raises(ValueError, match=r"K must be an integer"):
        check_int("K", True)
    assert check_int("n", 3.0) == 3
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0, got 0.0"):
        check_real("lr", 0.0, minimum=0.0, strict=True)
    with pytest.raises(ValueError, match=r"lam must be a finite number >= 0, got nan"):
        check_real("lam", float("nan"), minimum=0.0)
    with pytest.raises(ValueError, match=r"loss must be one of 'ce', 'mse', got 'mae'"):
        check_choice("loss", "mae", ("ce", "mse"))


def test_as_float_tensor_keeps_dtype_and_rejects_nonfinite():
    x = np.ones((3, 2))
    assert as_float_tensor(x, "features").dtype == torch.float64
    assert as_float_tensor(x.astype(np.float32), "features").dtype == torch.float32
    assert as_float_tensor(np.ones((2, 2), dtype=int), "f").is_floating_point()
    with pytest.raises(ValueError, match="features must be finite values only"):
        as_float_tensor(np.array([[1.0, np.nan]]), "features")
    with pytest.raises(ValueError, match="features must be an array with 2 dimensions"):
        as_float_tensor(np.ones(3), "features", ndim=2)


def test_as_labels_checks():
    labels, K = as_labels(np.array([0, 1, 2, 1]))
    assert K == 3 and labels.dtype == torch.int64
    with pytest.raises(ValueError, match="labels must be integer class labels in 0..2, got 'a label -1'"):
        as_labels(np.array([0, 1, -1, 2]), num_classes=3)
    with pytest.raises(ValueError, match="integer class labels"):
        as_labels(np.array([0.0, 1.5]))
    with pytest.raises(ValueError, match="no sample of class 1"):
        as_labels(np.array([0, 2, 2]))
    with pytest.raises(ValueError, match="number of classes must be at least 2"):
        as_labels(np.array([0, 0]))
    with pytest.raises(ValueError, match="one label per sample"):
        as_labels(np.array([0, 1]), num_samples=3)


def test_as_labels_for_stream_batches():
    # a batch of a stream may be empty or miss classes, but its labels are still checked
    labels, K = as_labels(np.array([2, 2]), num_classes=4, require_all_classes=False)
    assert K == 4 and labels.tolist() == [2, 2]
    empty, K = as_labels(np.array([], dtype=np.int64), num_classes=4, require_all_classes=False)
    assert K == 4 and empty.numel() == 0
    with pytest.raises(ValueError, match="a label 4"):
        as_labels(np.array([0, 4]), num_classes=4, require_all_classes=False)
    with pytest.raises(ValueError, match="dtype <U1"):
        as_labels(np.array(["a", "b"]), num_classes=4, require_all_classes=False)


def test_dtype_and_device_resolved_in_one_place():
    import torch

    from nclab import _tensor
    from nclab.ufm import init
    from nclab.ufm.options import DType

    assert init.resolve_dtype is _tensor.resolve_dtype and init.resolve_device is _tensor.resolve_device
    assert _tensor.resolve_dtype("double") is torch.float64 and _tensor.resolve_dtype(torch.float32) is torch.float32
    assert _tensor.resolve_device(None) == torch.device("cpu")
    assert DType().check("dtype", "double") == "float64" and DType().check("dtype", torch.float32) == "float32"
    with pytest.raises(ValueError, match="^dtype"):
        _tensor.resolve_dtype("float16")
    with pytest.raises(ValueError, match="'dtype' must be one of 'float32'"):
        DType().check("'dtype'", "half")
    with pytest.raises(ValueError, match="^device"):
        _tensor.resolve_device("tpu")
