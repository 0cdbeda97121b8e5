"""UFM objective: hand-written gradients vs autograd and finite differences (float64), the
paper presets against their papers' formulas written out, and spec validation."""
import itertools
import math

import numpy as np
import pytest
import torch

from nclab.ufm import UFMParams, UFMSpec, initialize, parts
from nclab.ufm.objective import Objective, forward, forward_all, grad_norm, loss_and_grad

VARIANTS = list(itertools.product(("ce", "mse"), ("linear", "relu"), (False, True), (False, True), (1, 2, 3, 4)))
VARIANTS += [("ce", "relu", False, True, 2, "sum"), ("mse", "linear", True, False, 3, "sum")]


def _spec(loss, act, bias, anchor, L, reduction="mean", K=3, n=2, d=5):
    H0 = torch.randn(d, K * n, generator=torch.Generator().manual_seed(99), dtype=torch.float64) if anchor else None
    lam_W = tuple(0.01 * (i + 1) for i in range(L)) if L % 2 == 0 else 0.03
    return UFMSpec(K=K, n=n, d=d, L=L, activation=act, loss=loss, bias=bias, lam_H=0.02, lam_W=lam_W,
                   lam_b=0.05 if bias else 0.0, H0=H0, beta=0.7 if anchor else 0.0, reduction=reduction)


def _random_params(spec, S=2, seed0=0):
    p = initialize(spec, range(seed0, seed0 + S), "gaussian", scale_W=0.8, scale_b=0.5, dtype=torch.float64)
    return p


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v)))
def test_gradient_matches_autograd_and_finite_differences(variant):
    spec = _spec(*variant)
    params = _random_params(spec)
    got_parts, grads = loss_and_grad(spec, params)
    # autograd through the plain differentiable objective
    leaves = [t.clone().requires_grad_() for t in params.tensors()]
    ref = parts(spec, UFMParams.from_tensors(leaves, spec.bias))
    ref["loss"].sum().backward()
    for k in ("loss", "fit", "reg", "anchor"):
        torch.testing.assert_close(got_parts[k], ref[k].detach(), rtol=1e-12, atol=1e-12)
    for g, leaf in zip(grads.tensors(), leaves):
        torch.testing.assert_close(g, leaf.grad, rtol=1e-10, atol=1e-12)
    # central finite differences along a random direction, per seed
    gen = torch.Generator().manual_seed(7)
    direction = [torch.randn(t.shape, generator=gen, dtype=torch.float64) for t in params.tensors()]
    h = 1e-6
    plus = UFMParams.from_tensors([t + h * v for t, v in zip(params.tensors(), direction)], spec.bias)
    minus = UFMParams.from_tensors([t - h * v for t, v in zip(params.tensors(), direction)], spec.bias)
    fd = (parts(spec, plus)["loss"] - parts(spec, minus)["loss"]) / (2 * h)
    analytic = sum((g * v).sum(dim=tuple(range(1, g.ndim))) for g, v in zip(grads.tensors(), direction))
    torch.testing.assert_close(fd, analytic, rtol=1e-6, atol=1e-8)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func internals (torch.jit.script)
def test_parts_are_twice_differentiable_with_torch_func():
    spec = _spec("ce", "relu", True, True, 2)
    p = _random_params(spec, S=1)
    flat = p.flat()[0]

    def f(x):
        return parts(spec, UFMParams.from_flat(spec, x))["loss"][0]

    H = torch.func.hessian(f)(flat)
    assert H.shape == (flat.numel(), flat.numel())
    torch.testing.assert_close(H, H.T, rtol=1e-10, atol=1e-12)
    # Hessian-vector product by finite differences of the hand-written gradient
    v = torch.randn(flat.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    obj = Objective(spec, dtype=torch.float64, device="cpu")
    g = lambda x: obj.loss_and_grad(UFMParams.from_flat(spec, x.unsqueeze(0)), False)[1].flat()[0]  # noqa: E731
    fd = (g(flat + 1e-6 * v) - g(flat - 1e-6 * v)) / 2e-6
    torch.testing.assert_close(H @ v, fd, rtol=1e-5, atol=1e-7)


def test_forward_layers_and_preactivations():
    spec = _spec("ce", "relu", False, False, 3)
    p = _random_params(spec)
    Z, layers = forward(spec, p)
    out = forward_all(spec, p)
    assert Z.shape == (2, spec.K, spec.N) and len(layers) == 3 and len(out.pre) == 2
    torch.testing.assert_close(layers[1], torch.relu(out.pre[0]))
    torch.testing.assert_close(Z, p.W[2] @ torch.relu(p.W[1] @ torch.relu(p.W[0] @ p.H)))


# ---------------------------------------------------------------- presets vs the papers
def _one_hot(K, n):
    return torch.kron(torch.eye(K, dtype=torch.float64), torch.ones(1, n, dtype=torch.float64))


def test_tirer_preset_is_thn_eq2():
    K, n, d, lam_W, lam_H, beta = 4, 3, 6, 0.3, 0.2, 5.0
    g = torch.Generator().manual_seed(0)
    H0 = torch.randn(d, K * n, generator=g, dtype=torch.float64)
    spec = UFMSpec.tirer(K, n, d, lam_W, lam_H, beta=beta, H0=H0)
    p = initialize(spec, [3], dtype=torch.float64, scale_W=1.0)
    W, H = p.W[0][0], p.H[0]
    Y = _one_hot(K, n)
    paper = (((W @ H - Y) ** 2).sum() / (2 * K * n) + lam_W / (2 * K) * (W ** 2).sum()
             + lam_H / (2 * K * n) * (H ** 2).sum() + beta / (2 * K * n) * ((H - H0) ** 2).sum())
    assert float(parts(spec, p)["loss"][0]) == pytest.approx(float(paper), rel=1e-13)
    plain = UFMSpec.tirer(K, n, d, lam_W, lam_H)
    eq1 = paper - beta / (2 * K * n) * ((H - H0) ** 2).sum()
    assert float(parts(plain, p)["loss"][0]) == pytest.approx(float(eq1), rel=1e-13)


def test_mixon_preset_is_mpp_risk():
    C, N, p_dim = 3, 4, 7
    spec = UFMSpec.mixon(C, N, p_dim)
    prm = initialize(spec, [1], dtype=torch.float64, scale_b=1.0)
    W, H, b = prm.W[0][0], prm.H[0], prm.b[0]
    Y = _one_hot(C, N)
    risk = ((W @ H + b[:, None] @ torch.ones(1, C * N, dtype=torch.float64) - Y) ** 2).sum() / (2 * C * N)
    assert float(parts(spec, prm)["loss"][0]) == pytest.approx(float(risk), rel=1e-13)
    assert spec.K == C and spec.n == N and spec.d == p_dim and spec.bias and spec.loss == "mse"


@pytest.mark.parametrize("act", ["linear", "relu"])
def test_garrod_preset_is_gk_objective(act):
    K, n, d, L, lam = 4, 3, 6, 3, 2 ** -6
    spec = UFMSpec.garrod(K, n, d, L, lam, act)
    prm = initialize(spec, [2], dtype=torch.float64, scale_W=1.0)
    H, Ws = prm.H[0], [w[0] for w in prm.W]
    s = torch.relu if act == "relu" else (lambda x: x)
    Z = Ws[2] @ s(Ws[1] @ s(Ws[0] @ H))
    labels = torch.arange(K).repeat_interleave(n)
    ce = torch.nn.functional.cross_entropy(Z.T, labels)  # mean over the N samples
    value = ce + lam / 2 * sum((w ** 2).sum() for w in Ws) + lam / 2 * (H ** 2).sum()
    assert float(parts(spec, prm)["loss"][0]) == pytest.approx(float(value), rel=1e-13)
    split = UFMSpec.garrod(K, n, d, L, lam, act, lam_H=1e-6, lam_W=5e-3)
    assert split.lam_H == 1e-6 and split.lam_W_layers == (5e-3,) * L
    summed = UFMSpec.garrod(K, n, d, L, lam, act, reduction="sum")
    value_sum = ce * K * n + lam / 2 * sum((w ** 2).sum() for w in Ws) + lam / 2 * (H ** 2).sum()
    assert float(parts(summed, prm)["loss"][0]) == pytest.approx(float(value_sum), rel=1e-13)


def test_anchor_without_H0_is_plain_ufm_with_larger_lam_H():
    """THN: H0 = 0 gives the plain UFM with lam_H + beta (in THN's normalisation)."""
    K, n, d = 3, 2, 4
    a = UFMSpec.tirer(K, n, d, 0.1, 0.2, beta=3.0, H0=np.zeros((d, K * n)))
    b = UFMSpec.tirer(K, n, d, 0.1, 3.2)
    p = initialize(a, [0, 1], dtype=torch.float64)
    torch.testing.assert_close(parts(a, p)["loss"], parts(b, p)["loss"], rtol=1e-13, atol=0)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,field", [
    (dict(K=1, n=2, d=3), "K"), (dict(K=3, n=0, d=3), "n"), (dict(K=3, n=2, d=0), "d"),
    (dict(K=3, n=2, d=3, L=0), "L"), (dict(K=3, n=2, d=3, lam_H=-1), "lam_H"),
    (dict(K=3, n=2, d=3, lam_W=-0.1), "lam_W"), (dict(K=3, n=2, d=3, L=2, lam_W=(0.1,)), "lam_W"),
    (dict(K=3, n=2, d=3, loss="hinge"), "loss"), (dict(K=3, n=2, d=3, activation="tanh"), "activation"),
    (dict(K=3, n=2, d=3, H0=np.zeros((3, 5)), beta=1.0), "H0"), (dict(K=3, n=2, d=3, beta=-1), "beta"),
    (dict(K=3, n=2, d=3, bias="yes"), "bias"), (dict(K=3, n=2, d=3, reduction="max"), "reduction"), (dict(K=3, n=2, d=3, lam_b=float("nan")), "lam_b"),
])
def test_spec_rejects_bad_input_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}"):
        UFMSpec(**kwargs)


def test_spec_equality_hash_and_params_helpers():
    H0 = np.ones((3, 4))
    a, b = UFMSpec(K=2, n=2, d=3, H0=H0, beta=1.0), UFMSpec(K=2, n=2, d=3, H0=H0.copy(), beta=1.0)
    assert a == b and hash(a) == hash(b) and a != a.replace(beta=2.0)
    assert a.to_dict()["H0"]["shape"] == [3, 4]
    spec = UFMSpec(K=3, n=2, d=4, L=2, bias=True)
    p = initialize(spec, 3, dtype=torch.float64, scale_b=1.0)
    assert p.num_seeds == 3 and p.flat().shape == (3, spec.num_parameters())
    q = UFMParams.from_flat(spec, p.flat())
    assert all(torch.equal(x, y) for x, y in zip(p.tensors(), q.tensors()))
    torch.testing.assert_close(p[1].H, p.H[1:2])
    r = UFMParams.from_numpy(p.numpy())
    assert torch.equal(r.W[1], p.W[1]) and torch.equal(r.b, p.b)
    assert UFMParams.cat([p[0], p[2]]).num_seeds == 2
    assert float(grad_norm(p)[0]) == pytest.approx(float(p.flat()[0].norm()))
    with pytest.raises(ValueError, match="^H"):
        p.check(UFMSpec(K=3, n=3, d=4, L=2, bias=True))


def test_init_schemes_and_seed_independence():
    spec = UFMSpec(K=3, n=2, d=8, L=2, bias=True, loss="mse")
    a = initialize(spec, [5, 1, 9], dtype=torch.float64)
    b = initialize(spec, [9], dtype=torch.float64)
    assert all(torch.equal(x[2], y[0]) for x, y in zip(a.tensors(), b.tensors()))
    assert float(a.b.abs().max()) == 0.0  # gaussian: zero bias by default
    assert float(a.W[0].std()) == pytest.approx(1 / math.sqrt(8), rel=0.3)
    c = initialize(spec, [0, 1], "norm", 1e-3, dtype=torch.float64)
    torch.testing.assert_close(c.flat().norm(dim=1), torch.full((2,), 1e-3, dtype=torch.float64))
    assert float(c.b.abs().max()) == 0.0
    d = initialize(spec, [0], "pytorch", dtype=torch.float64)
    assert float(d.W[0].abs().max()) <= 1 / math.sqrt(8)
    f32 = initialize(spec, [5], dtype=torch.float32)
    torch.testing.assert_close(f32.H.double(), a.H[:1], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="^init"):
        initialize(spec, 1, "xavier")
    with pytest.raises(ValueError, match="^dtype"):
        initialize(spec, 1, dtype="float16")
    with pytest.raises(ValueError, match="^seeds"):
        initialize(spec, [1, 1])


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[4] in (1, 3) or len(v) > 5],
                         ids=lambda v: "-".join(map(str, v)))
def test_fused_gd_step_equals_gradient_step(variant):
    spec = _spec(*variant)
    params = _random_params(spec)
    obj = Objective(spec, dtype=torch.float64, device="cpu")
    _, grads = obj.loss_and_grad(params, need_parts=False)
    expected = [p - 0.1 * g for p, g in zip(params.tensors(), grads.tensors())]
    fused = params.clone()
    obj.gd_step(fused, 0.1)
    for e, f in zip(expected, fused.tensors()):
        torch.testing.assert_close(f, e, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("L,bias,loss", [(2, False, "ce"), (3, True, "mse"), (4, False, "ce")])
def test_product_form_equals_layer_form(L, bias, loss):
    """Deep linear gradients re-associated through the K-row products equal the layer-wise ones."""
    spec = _spec(loss, "linear", bias, True, L)
    params = _random_params(spec, S=3)
    a = Objective(spec, dtype=torch.float64, device="cpu", product_form=True)
    b = Objective(spec, dtype=torch.float64, device="cpu", product_form=False)
    assert a.product_form and not b.product_form
    pa, ga = a.loss_and_grad(params)
    pb, gb = b.loss_and_grad(params)
    torch.testing.assert_close(pa["loss"], pb["loss"], rtol=1e-13, atol=0)
    for x, y in zip(ga.tensors(), gb.tensors()):
        torch.testing.assert_close(x, y, rtol=1e-11, atol=1e-13)
    fa, fb = params.clone(), params.clone()
    a.gd_step(fa, 0.05)
    b.gd_step(fb, 0.05)
    for x, y in zip(fa.tensors(), fb.tensors()):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-13)
