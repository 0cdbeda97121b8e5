"""Per-layer neural collapse metrics and logit spectra of UFM parameters, batched over seeds.

Layer names: ``h1`` is H_1; ``h2``..``hL`` the outputs X_1..X_{L-1} of the hidden layers
(after the activation); for ReLU models ``a2``..``aL`` are the pre-activations A_1..A_{L-1}
(docs/math.md §2.14, deep neural collapse). Metrics come from :func:`nclab.metrics.collapse` on the
sample-major view X^T (N x d); the last features X_{L-1} get the classifier W_L and b, the
other layers no classifier. Columns are ``<metric>_<layer>`` (e.g. ``nc1_h1``).

Logit spectra: ``svZ_1..svZ_K`` singular values of Z (K x N), ``svZbar_1..svZbar_K`` those of
the class-mean logits Zbar (K x K), in decreasing order.
"""
from __future__ import annotations

import torch

from nclab.layout import class_ordered_labels, class_ordered_means
from nclab.metrics import collapse as nc_collapse
from nclab.ufm.objective import forward_all
from nclab.ufm.spec import UFMParams, UFMSpec


def layer_features(spec: UFMSpec, params: UFMParams) -> dict[str, torch.Tensor]:
    """``{layer name: features (S, d, N)}`` in the papers' orientation (see module doc).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    dict of str to torch.Tensor
        ``h1``..``hL`` (and ``a2``..``aL`` for ReLU models), each (S, d, N).

    References
    ----------
    Garrod & Keating, arXiv:2410.23169 (deep UFM, deep neural collapse; docs/math.md §2.14, §6.1).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> from nclab.ufm.init import initialize
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> params = initialize(spec, 2, dtype=torch.float64)
    >>> {k: tuple(v.shape) for k, v in layer_features(spec, params).items()}
    {'h1': (2, 4, 6), 'h2': (2, 4, 6)}
    """
    out = forward_all(spec, params)
    feats = {f"h{i + 1}": X for i, X in enumerate(out.layers)}
    if spec.activation == "relu":
        feats.update({f"a{i + 2}": A for i, A in enumerate(out.pre)})
    return feats


def logit_spectra(spec: UFMSpec, Z: torch.Tensor) -> dict[str, torch.Tensor]:
    """Singular values of Z (S, K, N) and of its class means (S, K, K), as columns of (S,).

    Parameters
    ----------
    spec : UFMSpec
        The model (gives n).
    Z : torch.Tensor, shape (S, K, N)
        Class-ordered logits.

    Returns
    -------
    dict of str to torch.Tensor
        ``svZ_1..svZ_K`` and ``svZbar_1..svZbar_K``, decreasing, each of shape (S,).

    References
    ----------
    Garrod & Keating, arXiv:2410.23169 (deep UFM, deep neural collapse; docs/math.md §2.14, §6.1).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> from nclab.ufm.init import initialize
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> params = initialize(spec, 2, dtype=torch.float64)
    >>> from nclab.ufm.objective import forward
    >>> sorted(logit_spectra(spec, forward(spec, params)[0]))
    ['svZ_1', 'svZ_2', 'svZ_3', 'svZbar_1', 'svZbar_2', 'svZbar_3']
    """
    Zbar = class_ordered_means(Z, spec.n)
    sv = torch.linalg.svdvals(Z)
    svbar = torch.linalg.svdvals(Zbar)
    out = {f"svZ_{i + 1}": sv[..., i] for i in range(sv.shape[-1])}
    out.update({f"svZbar_{i + 1}": svbar[..., i] for i in range(svbar.shape[-1])})
    return out


def layer_metrics(spec: UFMSpec, params: UFMParams, *, collapse: bool = True) -> dict[str, torch.Tensor]:
    """Per-layer NC metrics and logit spectra, each a tensor of shape (S,) (see module doc).

    With ``collapse=False`` only the spectra are returned. Entries of the metric dict that are not one number per
    seed are left out.

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.
    collapse : bool, optional
        Compute the per-layer metrics of :func:`nclab.metrics.collapse` (default True).

    Returns
    -------
    dict of str to torch.Tensor
        Columns ``<metric>_<layer>`` and the logit spectra, each of shape (S,).

    References
    ----------
    Papyan, Han, Donoho, PNAS 2020, doi:10.1073/pnas.2015509117 (NC1-NC4); Garrod & Keating,
    arXiv:2410.23169 (deep neural collapse, docs/math.md §2.14).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMSpec
    >>> from nclab.ufm.init import initialize
    >>> spec = UFMSpec.garrod(3, 2, 4, 2, 0.01)
    >>> params = initialize(spec, 2, dtype=torch.float64)
    >>> m = layer_metrics(spec, params)
    >>> "nc1_h1" in m, tuple(m["svZ_1"].shape)
    (True, (2,))
    """
    with torch.no_grad():
        out = forward_all(spec, params)
        result = logit_spectra(spec, out.Z)
        if not collapse:
            return result
        labels = class_ordered_labels(spec.K, spec.n, device=params.device)
        S = params.num_seeds
        feats = layer_features(spec, params)
        last = f"h{spec.L}"
        for name, X in feats.items():
            kwargs = {}
            if name == last:
                kwargs = {"weight": params.W[-1], "bias": params.b}
            values = nc_collapse(X.transpose(-1, -2), labels, undefined="omit", **kwargs)  # d < K - 1: no ETF metrics
            for key, value in values.items():
                t = torch.as_tensor(value)
                if t.ndim == 0 and S == 1:
                    t = t.reshape(1)
                if t.ndim == 1 and t.shape[0] == S:
                    result[f"{key}_{name}"] = t
        return result
