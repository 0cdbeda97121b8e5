"""Sweep kinds: what one batched unit of work computes.

A kind is a module-level function ``run(config, seeds, device) -> list[dict]`` (one dict per
seed, in order) plus the kind's config keys with their defaults. Each per-seed dict has

- ``status``: ``"done"``, ``"diverged"`` or ``"error"``;
- ``metrics``: a flat dict of final numbers/strings (stored as columns of the store);
- ``history`` (optional): a pandas DataFrame or a dict column -> list (stored compressed);
- ``error`` (optional): the message of an ``error`` row.

Kinds are registered with :func:`nclab.sweep.registry.register_kind`; the
built-in one is ``ufm`` (see :mod:`nclab.sweep.ufm_kind`); every experiment is one too
(:mod:`nclab.experiments.sweep_kinds`). The run function is sent to the
workers by reference, so it must be importable (a module-level function).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from nclab._validation import check_int, fail


class _Required:
    def __repr__(self) -> str:
        return "<required>"


#: Default value of a key that the user must set.
REQUIRED: Any = _Required()

RunFunction = Callable[[dict, list, str], list]


@dataclass(frozen=True)
class SweepKind:
    """A registered kind of sweep unit.

    Parameters
    ----------
    name : str
        The kind's name (``nclab sweep NAME``), recorded in the store.
    run : callable
        A module-level function ``run(config, seeds, device) -> list[dict]`` (one dict per
        seed, see the module docstring).
    description : str, default ""
        A line for ``nclab sweep --help``.
    defaults : mapping, default {}
        Every key with its default (:data:`REQUIRED` for keys without one).
    schema : callable, optional
        ``schema(preset) -> defaults``: replaces ``defaults`` when the keys depend on a preset.
    normalize : callable, optional
        ``normalize(config) -> config``: validates a full config (raising ``ValueError`` naming
        the key) and returns its canonical values.
    presets : tuple of str, default ()
        The allowed ``--preset`` names.
    preload : tuple of str, default ()
        Modules that local workers import at start-up (besides the run function's own module).
    profile : {"quick", "full"}, optional
        For an experiment's kind, the profile its defaults come from, recorded in the store's
        meta so that ``nclab report STORE`` judges with that profile.

    Examples
    --------
    >>> kind = SweepKind("toy", run=print, defaults={"n": REQUIRED, "steps": 10, "lr": 0.1})
    >>> kind.keys()
    {'n': <required>, 'steps': 10, 'lr': 0.1}
    >>> kind.canonical({"n": 2, "steps": 5.0, "lr": 1})
    {'n': 2, 'steps': 5, 'lr': 1.0}
    """

    name: str
    run: RunFunction
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    schema: Callable[[str | None], Mapping[str, Any]] | None = None
    normalize: Callable[[dict], dict] | None = None
    presets: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()
    profile: str | None = None

    def keys(self, preset: str | None = None) -> dict[str, Any]:
        """Every config key of this kind (for ``preset``) with its default.

        Parameters
        ----------
        preset : str, optional
            One of :attr:`presets`.

        Returns
        -------
        dict
            Key -> default (:data:`REQUIRED` for keys without one).

        Raises
        ------
        ValueError
            A preset the kind does not have.

        Examples
        --------
        >>> SweepKind("toy", run=print, defaults={"n": 1}).keys(preset="big")
        Traceback (most recent call last):
        ...
        ValueError: preset of sweep kind 'toy' must be none (kind has no presets), got 'big'
        """
        if preset is not None and preset not in self.presets:
            allowed = "one of " + ", ".join(repr(p) for p in self.presets) if self.presets else "none (kind has no presets)"
            fail(f"preset of sweep kind {self.name!r}", preset, allowed)
        return dict(self.schema(preset)) if self.schema is not None else dict(self.defaults)

    def canonical(self, config: Mapping[str, Any], preset: str | None = None) -> dict[str, Any]:
        """The full canonical config: defaults <- ``config``, unknown or missing keys rejected.

        Values take the type of their default (``3.0`` -> ``3`` for an integer key), then
        :attr:`normalize` runs on the full config.

        Parameters
        ----------
        config : mapping
            The settings given.
        preset : str, optional
            One of :attr:`presets`; recorded as the config's first key.

        Returns
        -------
        dict
            Every key with its canonical value.

        Raises
        ------
        ValueError
            An unknown key, a key left :data:`REQUIRED`, a bad preset, or what ``normalize``
            refuses; each names the key.

        Examples
        --------
        >>> kind = SweepKind("toy", run=print, defaults={"n": REQUIRED})
        >>> kind.canonical({})
        Traceback (most recent call last):
        ...
        ValueError: sweep kind 'toy' needs a value for 'n' (--set KEY=VALUE or --grid)
        """
        keys = self.keys(preset)
        unknown = sorted(set(config) - set(keys) - {"preset"})
        if unknown:
            fail(
                f"key {unknown[0]!r} of sweep kind {self.name!r}" + (f" (preset {preset})" if preset else ""),
                config[unknown[0]],
                "one of " + ", ".join(sorted(keys)),
            )
        full = {k: config.get(k, v) for k, v in keys.items()}
        missing = [k for k, v in full.items() if v is REQUIRED]
        if missing:
            raise ValueError(
                f"sweep kind {self.name!r}" + (f" (preset {preset})" if preset else "")
                + f" needs a value for {', '.join(repr(m) for m in missing)} (--set KEY=VALUE or --grid)"
            )
        for k, default in keys.items():
            full[k] = _coerce_like(k, full[k], default)
        if self.normalize is not None:
            full = dict(self.normalize(dict(full, **({"preset": preset} if preset else {}))))
            full.pop("preset", None)
        if preset:
            full = {"preset": preset, **full}
        return full


def _coerce_like(key: str, value: Any, default: Any) -> Any:
    """Give ``value`` the type of ``default``: 100.0 -> 100 for an int key, 1 -> 1.0 for floats."""
    if default is REQUIRED or default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            fail(key, value, "true or false")
        return value
    if isinstance(default, int):
        return check_int(key, value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value  # leave it to the kind's normalize (e.g. per-layer lists)
        try:
            return float(value)
        except OverflowError:  # an int beyond the float range: the kind's table refuses it by name
            return value
    return value
