"""The sweep kinds by name: the built-in ``ufm`` kind and those a user registers.

Experiments are not registered here: :func:`nclab.experiments.sweep_kind` builds an
experiment's kind from its config table, and ``nclab sweep EXPERIMENT`` asks for it by name.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from nclab._validation import fail
from nclab.sweep.kinds import RunFunction, SweepKind
from nclab.sweep.ufm_kind import UFM_KIND

_KINDS: dict[str, SweepKind] = {UFM_KIND.name: UFM_KIND}


def register_kind(
    name: str,
    *,
    run: RunFunction,
    defaults: Mapping[str, Any] | None = None,
    schema: Callable[[str | None], Mapping[str, Any]] | None = None,
    normalize: Callable[[dict], dict] | None = None,
    presets: tuple[str, ...] = (),
    description: str = "",
    preload: tuple[str, ...] = (),
) -> SweepKind:
    """Register (or replace) sweep kind ``name``; ``run`` must be a module-level function.

    Parameters
    ----------
    name : str
        The kind's name: letters, digits, ``_`` or ``-``.
    run : callable
        ``run(config, seeds, device) -> dict``, a module-level function (workers import it).
    defaults : mapping, optional
        The kind's config keys and default values (needed unless ``schema`` is given).
    schema : callable, optional
        ``schema(preset) -> {key: default}``.
    normalize : callable, optional
        Maps a config to its canonical form.
    presets : tuple of str, optional
        Preset names.
    description : str, optional
        One line for ``nclab sweep --help``.
    preload : tuple of str, optional
        Modules the workers import before the first unit.

    Returns
    -------
    SweepKind
        The registered kind.

    Raises
    ------
    ValueError
        If ``name`` is not an identifier (names ``sweep kind name``) or neither ``defaults`` nor
        ``schema`` is given.

    Examples
    --------
    >>> def run_example(config, seeds, device):
    ...     return {"rows": [{"seed": s, "y": config["x"]} for s in seeds]}
    >>> kind = register_kind("doc_example", run=run_example, defaults={"x": 1})
    >>> kind.name, "doc_example" in kinds()
    ('doc_example', True)
    >>> _ = _KINDS.pop("doc_example")
    """
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        fail("sweep kind name", name, "an identifier (letters, digits, _ or -)")
    if defaults is None and schema is None:
        raise ValueError(f"sweep kind {name!r} needs defaults or a schema")
    kind = SweepKind(name, run, description, dict(defaults or {}), schema, normalize, tuple(presets),
                     (run.__module__, *preload))
    _KINDS[name] = kind
    return kind


def kinds() -> dict[str, SweepKind]:
    """All sweep kinds registered so far by name (built-in ones always).

    Returns
    -------
    dict of str to SweepKind
        A copy of the registry.

    Examples
    --------
    >>> "ufm" in kinds()
    True
    """
    return dict(_KINDS)


def get_kind(name: str) -> SweepKind:
    """The sweep kind ``name``; an unknown name raises ``ValueError`` listing the known ones.

    Parameters
    ----------
    name : str
        The kind's name.

    Returns
    -------
    SweepKind
        The kind.

    Raises
    ------
    ValueError
        If no kind of that name is registered (names ``sweep kind``).

    Examples
    --------
    >>> get_kind("ufm").name
    'ufm'
    """
    if name not in _KINDS:
        fail("sweep kind", name, "one of " + ", ".join(sorted(_KINDS)))
    return _KINDS[name]
