"""The UFM objective, batched over a leading seed axis S (docs/math.md §7.1).

For the spec's model (see :mod:`nclab.ufm.spec`), with X_0 = H_1::

    A_l = W_l X_{l-1},  X_l = s(A_l)  (l = 1..L-1, s = identity or ReLU),
    Z = W_L X_{L-1} + b 1^T,
    loss = fit(Z) + reg + anchor,

with the terms fit, reg and anchor defined in :mod:`nclab.ufm.terms` (their one home).

:func:`forward` and :func:`parts` are plain differentiable torch code (autograd and
``torch.func`` work through them, twice). :func:`loss_and_grad` is the hand-written backward
pass (batched matmuls, no autograd graph) that training uses; tests check it against autograd
and finite differences in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nclab.ufm.spec import UFMParams, UFMSpec
from nclab.ufm.terms import _sq, anchor_term, fit_of_logits, fit_scale, regulariser, targets


@dataclass
class Forward:
    """Everything a forward pass produces, batched over seeds.

    Parameters
    ----------
    Z : torch.Tensor, shape (S, K, N)
        Logits.
    layers : list of torch.Tensor
        The features entering each weight matrix: [H_1, X_1, .., X_{L-1}] each (S, d, N)
        (X_l after the activation).
    pre : list of torch.Tensor
        The pre-activations [A_1, .., A_{L-1}] (equal to ``layers[1:]`` for the linear model).

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> out = forward_all(spec, params)
    >>> isinstance(out, Forward), tuple(out.Z.shape), len(out.layers), len(out.pre)
    (True, (1, 3, 6), 1, 0)
    """

    Z: torch.Tensor
    layers: list[torch.Tensor]
    pre: list[torch.Tensor]


def forward_all(spec: UFMSpec, params: UFMParams) -> Forward:
    """Forward pass keeping every layer's features and pre-activations (GK's deep UFM).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    Forward
        Logits, features and pre-activations.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1-2; Garrod & Keating,
    arXiv:2410.23169, Section 2 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> tuple(forward_all(spec, params).Z.shape)
    (1, 3, 6)
    """
    X = params.H
    layers, pre = [X], []
    for W in params.W[:-1]:
        A = torch.matmul(W, X)
        pre.append(A)
        X = torch.relu(A) if spec.activation == "relu" else A
        layers.append(X)
    Z = torch.matmul(params.W[-1], X)
    if params.b is not None:
        Z = Z + params.b.unsqueeze(-1)
    return Forward(Z, layers, pre)


def forward(spec: UFMSpec, params: UFMParams) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits Z (S, K, N) and the per-layer features [H_1, X_1, .., X_{L-1}] (each (S, d, N);
    after the activation; pre-activations are in :func:`forward_all`).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    Z : torch.Tensor, shape (S, K, N)
        Logits.
    layers : list of torch.Tensor
        Features entering each weight matrix.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1-2; Garrod & Keating,
    arXiv:2410.23169, Section 2 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> Z, layers = forward(spec, params)
    >>> tuple(Z.shape), len(layers)
    ((1, 3, 6), 1)
    """
    out = forward_all(spec, params)
    return out.Z, out.layers


def parts(spec: UFMSpec, params: UFMParams) -> dict[str, torch.Tensor]:
    """``{"loss", "fit", "reg", "anchor"}``, each of shape (S,); loss = fit + reg + anchor.

    Differentiable (autograd, ``torch.func``), e.g. for Hessians of ``parts(...)["loss"]``.

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    dict of str to torch.Tensor
        The objective and its three terms, each (S,).

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1-2; Garrod & Keating,
    arXiv:2410.23169, Section 2 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> {k: round(float(v), 6) for k, v in parts(spec, params).items()}  # THN's minimum c - c^2/2
    {'loss': 0.095, 'fit': 0.005, 'reg': 0.09, 'anchor': 0.0}
    """
    Z = forward_all(spec, params).Z
    fit = fit_of_logits(spec, Z)
    reg = regulariser(spec, params)
    anc = anchor_term(spec, params)
    return {"loss": fit + reg + anc, "fit": fit, "reg": reg, "anchor": anc}


def loss(spec: UFMSpec, params: UFMParams) -> torch.Tensor:
    """The objective per seed, shape (S,).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    torch.Tensor, shape (S,)
        ``parts(spec, params)["loss"]``.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1-2; Garrod & Keating,
    arXiv:2410.23169, Section 2 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> [round(v, 6) for v in loss(spec, params).tolist()]
    [0.095]
    """
    return parts(spec, params)["loss"]


class Objective:
    """The objective of one spec with its constants (Y, labels, H0) cached for a dtype/device.

    ``loss_and_grad(params, need_parts)`` is the hand-written batched backward pass:
    G_Z = (softmax(Z) - Y)/N (CE) or (Z - Y)/N (MSE) (no 1/N for ``reduction="sum"``);
    dW_L = G_Z X_{L-1}^T + lam W_L; db = G_Z 1 + lam_b b; G_{X_{l-1}} = W_l^T G_{A_l};
    G_{A_l} = G_{X_l} * [A_l > 0] (ReLU); dW_l = G_{A_l} X_{l-1}^T + lam W_l;
    dH = G_{X_0} + lam_H H + (beta/N)(H - H0).

    Deep LINEAR models with K < N use the same gradient re-associated through the K-row
    products (``product_form``, on by default there): with P_l = W_L ... W_l (K x d) and
    Q_l = G_Z H^T W_1^T ... W_{l-1}^T = G_Z X_{l-1}^T (K x d),
    Z = P_1 H, dW_l = P_{l+1}^T Q_l (l < L), dW_L = Q_L, dH = P_1^T G_Z:
    O(L K d^2 + K d N) flops per seed instead of O(L d^2 N) (the gradient has rank <= K).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    dtype : torch.dtype
        Element type of the cached constants (that of the parameters).
    device : torch.device or str or None
        Their device.
    product_form : bool, optional
        Use the product form for deep linear models (default: when K < N).

    References
    ----------
    Garrod & Keating, arXiv:2410.23169 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> objective = Objective(spec, dtype=torch.float64, device="cpu")
    >>> out, grads = objective.loss_and_grad(params)
    >>> [round(v, 6) for v in out["loss"].tolist()], bool(grad_norm(grads).max() < 1e-12)
    ([0.095], True)
    """

    def __init__(
        self, spec: UFMSpec, *, dtype: torch.dtype, device: torch.device | str | None,
        product_form: bool | None = None,
    ) -> None:
        self.spec = spec
        self.Y, self.labels = targets(spec, dtype=dtype, device=device)
        self.cols = torch.arange(spec.N, device=device)
        self.scale = fit_scale(spec)
        self.H0 = None
        if spec.anchored and spec.H0 is not None:
            self.H0 = spec.H0.to(dtype=dtype, device=device)
        eligible = spec.activation == "linear" and spec.L >= 2
        self.product_form = (eligible and spec.K < spec.N) if product_form is None else bool(product_form) and eligible

    # ------------------------------------------------------------------ shared pieces
    def _logits(self, params: UFMParams):
        """Z and what the backward pass needs: ("layers", layers, pre) or ("products", P)."""
        if self.product_form:
            P = [params.W[-1]]  # P_L, P_{L-1}, .., P_1
            for W in reversed(params.W[:-1]):
                P.append(torch.bmm(P[-1], W))
            P.reverse()  # P[0] = P_1 = W_L..W_1, P[l] = P_{l+1}
            X, cache = params.H, ("products", P)
            WL = P[0]
        else:
            X = params.H
            layers, pre = [X], []
            for W in params.W[:-1]:
                A = torch.bmm(W, X)
                pre.append(A)
                X = torch.relu(A) if self.spec.activation == "relu" else A
                layers.append(X)
            cache, WL = ("layers", layers, pre), params.W[-1]
        Z = torch.baddbmm(params.b.unsqueeze(-1), WL, X) if params.b is not None else torch.bmm(WL, X)
        return Z, cache

    def _dZ(self, Z: torch.Tensor, need_fit: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(G_Z, fit or None); overwrites Z."""
        fit = None
        if self.spec.loss == "ce":
            m = Z.amax(dim=1, keepdim=True)
            if need_fit:
                true = Z[:, self.labels, self.cols]
            E = torch.exp(Z.sub_(m))
            s = E.sum(dim=1, keepdim=True)
            if need_fit:
                fit = (m.squeeze(1) + torch.log(s.squeeze(1)) - true).sum(dim=-1) * self.scale
            return E.div_(s).sub_(self.Y).mul_(self.scale), fit
        G = Z.sub_(self.Y)
        if need_fit:
            fit = 0.5 * _sq(G) * self.scale
        return G.mul_(self.scale), fit

    def _fit_grads(self, params: UFMParams, cache, G: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Gradients of the fit alone: ([dW_1..dW_L], dH), from G = G_Z (not modified)."""
        L = self.spec.L
        dW: list[torch.Tensor] = [None] * L  # type: ignore[list-item]
        if cache[0] == "products":
            P = cache[1]
            Q = torch.bmm(G, params.H.transpose(1, 2))  # Q_1
            for l in range(L):  # l is 0-based: W_{l+1}
                if l == L - 1:
                    dW[l] = Q
                else:
                    dW[l] = torch.bmm(P[l + 1].transpose(1, 2), Q)
                    Q = torch.bmm(Q, params.W[l].transpose(1, 2))
            return dW, torch.bmm(P[0].transpose(1, 2), G)
        _, layers, pre = cache
        for l in range(L - 1, -1, -1):
            W = params.W[l]
            dW[l] = torch.bmm(G, layers[l].transpose(1, 2))
            G = torch.bmm(W.transpose(1, 2), G)
            if l > 0 and self.spec.activation == "relu":
                G = G.mul_(pre[l - 1] > 0)
        return dW, G

    # ------------------------------------------------------------------ public
    def loss_and_grad(
        self, params: UFMParams, need_parts: bool = True
    ) -> tuple[dict[str, torch.Tensor] | None, UFMParams]:
        """(parts or None, gradient as UFMParams) for every seed at once.

        Parameters
        ----------
        params : UFMParams
            Parameters with a leading seed axis.
        need_parts : bool, optional
            Also return the loss and its terms (default True).

        Returns
        -------
        parts : dict of str to torch.Tensor or None
            As :func:`parts` when ``need_parts``.
        grads : UFMParams
            The gradient.
        """
        spec = self.spec
        Z, cache = self._logits(params)
        G, fit = self._dZ(Z, need_parts)
        out = None
        if need_parts:
            reg = regulariser(spec, params)
            anc = self._anchor(params.H)
            out = {"loss": fit + reg + anc, "fit": fit, "reg": reg, "anchor": anc}
        db = None
        if params.b is not None:
            db = G.sum(dim=-1)
            if spec.lam_b:
                db = db.add_(params.b, alpha=spec.lam_b)
        dW, dH = self._fit_grads(params, cache, G)
        for lam, g, W in zip(spec.lam_W_layers, dW, params.W):
            if lam:
                g.add_(W, alpha=lam)
        coef = spec.lam_H + (spec.beta / spec.N if spec.anchored else 0.0)
        if coef:
            dH = dH.add_(params.H, alpha=coef)
        if self.H0 is not None:
            dH = dH.sub_(self.H0, alpha=spec.beta / spec.N)
        return out, UFMParams(dH, tuple(dW), db)

    def gd_step(self, params: UFMParams, lr: float) -> None:
        """One fused, in-place gradient-descent step p <- p - lr * grad for every seed.

        The same update as ``loss_and_grad`` + ``p -= lr * g`` (up to rounding) without
        materialising the largest weight gradients: W_l <- (1 - lr lam_l) W_l - lr (..)
        in one ``baddbmm_``, after every factor that needs the old weights is computed.

        Parameters
        ----------
        params : UFMParams
            Parameters, updated in place.
        lr : float
            Step size.

        Returns
        -------
        None
        """
        spec = self.spec
        N = spec.N
        lam_W = spec.lam_W_layers
        Z, cache = self._logits(params)
        G, _ = self._dZ(Z, False)
        if params.b is not None:
            params.b.mul_(1.0 - lr * spec.lam_b).add_(G.sum(dim=-1), alpha=-lr)
        if cache[0] == "products":
            P, L = cache[1], spec.L
            Qs = [torch.bmm(G, params.H.transpose(1, 2))]
            for l in range(L - 1):
                Qs.append(torch.bmm(Qs[-1], params.W[l].transpose(1, 2)))
            G = torch.bmm(P[0].transpose(1, 2), G)  # dH of the fit
            for l in range(L):  # ascending: W_L (= P[L-1]) is updated last
                W = params.W[l]
                if l == L - 1:
                    W.mul_(1.0 - lr * lam_W[l]).add_(Qs[l], alpha=-lr)
                else:
                    W.baddbmm_(P[l + 1].transpose(1, 2), Qs[l], beta=1.0 - lr * lam_W[l], alpha=-lr)
        else:
            _, layers, pre = cache
            for l in range(spec.L - 1, -1, -1):
                W = params.W[l]
                G_prev = torch.bmm(W.transpose(1, 2), G)
                if l > 0 and spec.activation == "relu":
                    G_prev = G_prev.mul_(pre[l - 1] > 0)
                W.baddbmm_(G, layers[l].transpose(1, 2), beta=1.0 - lr * lam_W[l], alpha=-lr)
                G = G_prev
        coef = spec.lam_H + (spec.beta / N if spec.anchored else 0.0)
        H = params.H
        if coef:
            H.mul_(1.0 - lr * coef)
        H.add_(G, alpha=-lr)
        if self.H0 is not None:
            H.add_(self.H0, alpha=lr * spec.beta / N)

    def _anchor(self, H: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        if not spec.anchored:
            return H.new_zeros(H.shape[0])
        D = H if self.H0 is None else H - self.H0
        return 0.5 * spec.beta / spec.N * _sq(D)


def loss_and_grad(spec: UFMSpec, params: UFMParams) -> tuple[dict[str, torch.Tensor], UFMParams]:
    """Parts and hand-written gradient of the objective for every seed (see :class:`Objective`).

    Parameters
    ----------
    spec : UFMSpec
        The model.
    params : UFMParams
        Parameters with a leading seed axis S.

    Returns
    -------
    parts : dict of str to torch.Tensor
        As :func:`parts`.
    grads : UFMParams
        The gradient, shaped like ``params``.

    References
    ----------
    Tirer, Huang, Niles-Weed, ICML 2023, arXiv:2210.16658, Eq. 1-2; Garrod & Keating,
    arXiv:2410.23169, Section 2 (the deep UFM); docs/math.md §7.1.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams, UFMSpec
    >>> from nclab.theory.shallow import mse_minimizer
    >>> spec = UFMSpec.tirer(3, 2, 4, 0.1, 0.1)
    >>> W, H = mse_minimizer(3, 2, 4, 0.1, 0.1)
    >>> params = UFMParams(H[None].clone(), (W[None].clone(),), None)
    >>> _, grads = loss_and_grad(spec, params)
    >>> bool(grad_norm(grads).max() < 1e-12)  # THN's minimiser is stationary
    True
    """
    parts_, grads = Objective(spec, dtype=params.dtype, device=params.device).loss_and_grad(params, True)
    assert parts_ is not None
    return parts_, grads


def grad_norm(grads: UFMParams) -> torch.Tensor:
    """Euclidean norm of the whole gradient of each seed, shape (S,).

    Parameters
    ----------
    grads : UFMParams
        A gradient with a leading seed axis.

    Returns
    -------
    torch.Tensor, shape (S,)
        The norms.

    Examples
    --------
    >>> from nclab.ufm.spec import UFMParams
    >>> ones = torch.ones(1, 2, 2, dtype=torch.float64)
    >>> [round(v, 6) for v in grad_norm(UFMParams(ones, (ones,), None)).tolist()]
    [2.828427]
    """
    total = None
    for g in grads.tensors():
        sq = _sq(g)
        total = sq if total is None else total + sq
    return torch.sqrt(total)
