"""Every experiment's config table refuses bad values up front: exit 2 and a message naming the key.

The bad values are generated from each key's declared rule (``nclab.config``): a value of the
wrong type, a value out of the declared range, and an empty list for list keys. Validation
happens before any work, so each call returns in milliseconds.
"""
from __future__ import annotations

import pytest

from nclab import cli
from nclab import config as C
from nclab.experiments import registry
from nclab.seeds import Seeds


def _wrong_type(rule: C.Rule) -> str | None:
    """A --set literal whose type the rule refuses."""
    if isinstance(rule, C.Optional):
        return _wrong_type(rule.rule)
    if isinstance(rule, (C.Int, C.Real)):
        return "'abc'"
    if isinstance(rule, Seeds):
        return "1.5"
    if isinstance(rule, C.Bool):
        return "'yes'"
    if isinstance(rule, (C.Choice, C.Text)):
        return "5"
    if isinstance(rule, C.ListOf):
        return "{bad}"  # not a literal: parsed as the string '{bad}', which is not a list
    if isinstance(rule, C.Either):
        return "[[[]]]"
    return None


def _out_of_range(rule: C.Rule) -> str | None:
    """A --set literal of the right type that the rule refuses."""
    if isinstance(rule, C.Optional):
        return _out_of_range(rule.rule)
    if isinstance(rule, C.Int):
        if rule.minimum is not None:
            return repr(rule.minimum - 1)
        if rule.maximum is not None:
            return repr(rule.maximum + 1)
    if isinstance(rule, C.Real):
        if rule.minimum is not None:
            return repr(rule.minimum if rule.strict else rule.minimum - 1.0)
        if rule.maximum is not None:
            return repr(rule.maximum + 1.0)
    if isinstance(rule, C.Choice):
        return "'no-such-option'"
    if isinstance(rule, C.Text):
        return "''"
    if isinstance(rule, Seeds):
        return "0"
    if isinstance(rule, C.ListOf):
        item = _out_of_range(rule.item)
        if item is not None:
            return f"[{item}]"
    return None


def _cases():
    for exp in registry.experiments():
        for key, param in exp.params.items():
            for what, make in (("type", _wrong_type), ("range", _out_of_range)):
                literal = make(param.rule)
                if literal is not None:
                    yield pytest.param(exp.name, key, literal, id=f"{exp.name}-{key}-{what}")
            if isinstance(param.rule, C.ListOf) and param.rule.min_len >= 1:
                yield pytest.param(exp.name, key, "[]", id=f"{exp.name}-{key}-empty")


@pytest.mark.parametrize("name, key, literal", list(_cases()))
def test_bad_setting_exits_2_naming_the_key(name, key, literal, capsys, tmp_path):
    code = cli.main(["run", name, "--quick", "--set", f"{key}={literal}", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"'{key}'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_every_key_has_a_refusable_value():
    """A key that no value can fail (no type, no range) would make the table's checks vacuous."""
    for exp in registry.experiments():
        for key, param in exp.params.items():
            assert _wrong_type(param.rule) is not None, (exp.name, key, param.rule)


def test_numeric_keys_declare_a_range():
    """Sizes, counts and tolerances have bounds: an Int or Real key without any is a missing declaration."""
    missing = []
    for exp in registry.experiments():
        for key, param in exp.params.items():
            rule = param.rule.rule if isinstance(param.rule, C.Optional) else param.rule
            inner = rule.item if isinstance(rule, C.ListOf) else rule
            if isinstance(inner, (C.Int, C.Real)) and inner.minimum is None and inner.maximum is None:
                missing.append(f"{exp.name}:{key}")
    # log2 exponents and the like may be unbounded: they are listed here on purpose.
    allowed_unbounded = {k for k in missing if k.split(":")[1].endswith("_log2") or k.split(":")[1].startswith("log2")}
    assert sorted(set(missing) - allowed_unbounded) == []
