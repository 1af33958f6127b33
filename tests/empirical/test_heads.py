"""Rank-constrained heads (bottleneck.empirical.heads): exact small cases, independent oracles,
property tests of Corollary H (proofs/rank_fact.md) and bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bottleneck as bn
from bottleneck import heads

from ..oracles import softmax


def test_svd_init_is_eckart_young():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((30, 8))
    s = np.linalg.svd(W, compute_uv=False)
    for r in (1, 3, 8):
        head = heads.LowRankHead(8, 30, r, init="svd", weight=W, dtype=torch.float64)
        err = np.linalg.norm(head.weight.detach().numpy() - W)
        assert err == pytest.approx(np.sqrt((s[r:] ** 2).sum()), abs=1e-10)
    full = heads.LowRankHead(8, 30, 8, init="svd", weight=W, dtype=torch.float64)
    np.testing.assert_allclose(full.weight.detach().numpy(), W, atol=1e-12)


def test_forward_is_x_times_weight_plus_bias():
    head = heads.LowRankHead(5, 7, 2, bias=True, init_std=0.5, seed=3, dtype=torch.float64)
    with torch.no_grad():
        head.bias.copy_(torch.arange(7, dtype=torch.float64))
    x = torch.randn(4, 5, dtype=torch.float64)
    expected = x.numpy() @ head.weight.detach().numpy().T + np.arange(7)
    np.testing.assert_allclose(head(x).detach().numpy(), expected, atol=1e-12)
    H, W, b = head.factors(x.numpy())
    assert H.shape == (4, 2) and W.shape == (7, 2)
    np.testing.assert_allclose(H @ W.T + b, expected, atol=1e-12)


def test_normal_init_statistics_and_seed():
    a = heads.LowRankHead(200, 300, 50, seed=1)
    b = heads.LowRankHead(200, 300, 50, seed=1)
    assert torch.equal(a.A, b.A) and torch.equal(a.B, b.B)
    entries = torch.cat([a.A.flatten(), a.B.flatten()]).detach().double()
    # N(0, 1), 25,000 draws: standard errors 0.0063 (mean) and 0.0045 (std); 5-sigma tolerances
    assert abs(float(entries.mean())) < 0.032 and abs(float(entries.std()) - 1.0) < 0.023


def test_evaluate_head_matches_numpy_oracle_tokens_and_distribution():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((13, 4))
    head = heads.LowRankHead(4, 6, 2, bias=True, init_std=0.7, seed=0, dtype=torch.float64)
    with torch.no_grad():
        head.bias.normal_()
    Z = X @ head.weight.detach().numpy().T + head.bias.detach().numpy()
    Q = softmax(Z)
    tokens = rng.integers(0, 6, size=13)
    w = rng.random(13)
    ev = heads.evaluate_head(head, X, tokens, weights=w, chunk_size=5)
    ce = -np.log(Q[np.arange(13), tokens])
    assert ev.loss == pytest.approx((w * ce).sum() / w.sum(), rel=1e-12)
    assert ev.accuracy == pytest.approx((w * (Z.argmax(1) == tokens)).sum() / w.sum(), rel=1e-12)
    P = softmax(rng.standard_normal((13, 6)) * 2)
    P[0, 3] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    t = bn.Target.from_probs(P, weights=w / w.sum())
    ev = heads.evaluate_head(head, X, t, chunk_size=4)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(P > 0, P * (np.log(P) - np.log(Q)), 0.0).sum(axis=1)
    assert ev.gap == pytest.approx((w * kl).sum() / w.sum(), rel=1e-10)
    assert heads.head_gap(head, X, t) == pytest.approx(ev.gap, rel=1e-10)
    assert heads.head_gap(head, X, t) == pytest.approx(t.gap(Z), rel=1e-12)


def test_distillation_recovers_a_realisable_teacher():
    """Teacher = softmax of a rank-2 head on the same features: the trained rank-2 head's
    held-out gap goes to ~0 and the accuracy to ~1."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((600, 6))
    W_true = rng.standard_normal((10, 2)) @ rng.standard_normal((2, 6))
    P = softmax(X @ W_true.T)
    fit = heads.fit_head(
        X,
        P,
        2,
        lr=3e-2,
        steps=1500,
        batch_size=128,
        init_std=0.3,
        held_out=0.2,
        seed=0,
        progress=False,
    )
    assert (
        not fit.diverged and fit.eval_on == "held-out" and fit.n_eval == 120 and fit.n_train == 480
    )
    assert fit.gap < 2e-3
    assert fit.accuracy > 0.95
    assert fit.history[-1][1] < fit.history[0][1]


def test_token_training_learns_a_linear_rule_and_beats_chance():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((2000, 5))
    rule = rng.standard_normal((8, 5))
    tokens = (X @ rule.T).argmax(axis=1)
    fit = heads.fit_head(
        X,
        tokens,
        5,
        vocab_size=8,
        lr=3e-2,
        steps=800,
        batch_size=128,
        init_std=0.3,
        seed=1,
        progress=False,
    )
    assert fit.mode == "tokens" and fit.gap is None
    assert fit.accuracy > 0.9
    assert fit.loss < np.log(8) / 3


def test_cross_entropy_gradient_is_q_minus_p():
    rng = np.random.default_rng(8)
    z = torch.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    p = torch.tensor(softmax(rng.standard_normal((3, 5))))
    heads._batch_loss(z, "distribution", p).sum().backward()
    np.testing.assert_allclose(
        z.grad.numpy(), torch.softmax(z, 1).detach().numpy() - p.numpy(), atol=1e-12
    )


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(3, 12),
    v=st.integers(2, 8),
    dim=st.integers(1, 6),
    r=st.integers(1, 6),
    bias=st.booleans(),
    seed=st.integers(0, 10_000),
    zero=st.booleans(),
)
def test_any_rank_r_head_is_above_the_certified_lower_bound(n, v, dim, r, bias, seed, zero):
    """Corollary H as a property: random heads on random features over random targets
    (with zeros sometimes) never beat the certified lower bound on G*(r)."""
    r = min(r, dim, v)
    rng = np.random.default_rng(seed)
    P = softmax(rng.standard_normal((n, v)) * rng.uniform(0.1, 4))
    if zero and v > 2:
        P[0, 0] = 0.0
        P /= P.sum(axis=1, keepdims=True)
    t = bn.Target.from_probs(P, weights=rng.dirichlet(np.ones(n)), bias=bias)
    X = rng.standard_normal((n, dim))
    head = heads.LowRankHead(
        dim, v, r, bias=bias, init_std=float(rng.uniform(0.05, 2)), seed=seed, dtype=torch.float64
    )
    gap = heads.head_gap(head, X, t)
    assert gap >= bn.bounds(t, r).lower - 1e-12


def test_training_is_reproducible_and_weights_change_sampling():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((50, 3))
    P = softmax(rng.standard_normal((50, 4)))
    a = heads.fit_head(X, P, 2, steps=30, batch_size=16, progress=False, device="cpu")
    b = heads.fit_head(X, P, 2, steps=30, batch_size=16, progress=False, device="cpu")
    assert a.loss == b.loss and np.array_equal(a.eval_index, b.eval_index)
    w = np.zeros(50)
    w[:5] = 1.0
    c = heads.fit_head(X, P, 2, steps=30, batch_size=16, weights=w, held_out=0.0, progress=False)
    assert c.loss != a.loss


def test_divergence_is_flagged_and_lr_sweep_skips_it():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((40, 3)) * 1e3
    tokens = rng.integers(0, 5, size=40)
    bad = heads.fit_head(X, tokens, 2, vocab_size=5, lr=1e36, steps=5, warmup=0.0, progress=False)
    assert bad.diverged and np.isnan(bad.loss)
    with pytest.raises(ValueError, match="every learning rate diverged"):
        heads.lr_sweep(X, tokens, 2, lrs=(1e36,), vocab_size=5, steps=5, warmup=0.0, progress=False)
    sweep = heads.lr_sweep(
        X / 1e3, tokens, 2, lrs=(1e36, 1e-2), vocab_size=5, steps=20, progress=False
    )
    assert sweep.best.lr == 1e-2 and [row[2] for row in sweep.table] == [True, False]


def test_eval_data_is_used_when_given():
    rng = np.random.default_rng(11)
    X, Xe = rng.standard_normal((30, 3)), rng.standard_normal((7, 3))
    y, ye = rng.integers(0, 4, 30), rng.integers(0, 4, 7)
    fit = heads.fit_head(X, y, 2, vocab_size=4, steps=10, eval_data=(Xe, ye), progress=False)
    assert fit.eval_on == "eval_data" and fit.n_eval == 7 and fit.n_train == 30
    assert fit.loss == pytest.approx(heads.evaluate_head(fit.head, Xe, ye).loss, rel=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda X, y: heads.fit_head(X[:5], y, 2, vocab_size=4), "token ids for"),
        (lambda X, y: heads.fit_head(X, y.astype(float), 2, vocab_size=4), "integer token ids"),
        (lambda X, y: heads.fit_head(X, y, 2), "vocab_size"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=3), "token id 3 >= vocab_size 3"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=4, lr=0.0), "lr must be"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=4, held_out=1.0), "held_out"),
        (lambda X, y: heads.fit_head(X, y, 7, vocab_size=4), "rank d must be"),
        (lambda X, y: heads.fit_head(X * np.nan, y, 2, vocab_size=4), "non-finite"),
        (lambda X, y: heads.LowRankHead(3, 4, 2, init="svd"), "needs weight"),
        (lambda X, y: heads.LowRankHead(3, 4, 2, init="xavier"), "init must be"),
        (lambda X, y: heads.LowRankHead(3, 4, 2, init="svd", weight=np.ones((3, 4))), "shape"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=4, bias="False"), "bias must be True"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=4, progress="no"), "progress must be"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=4, lr="1e-2"), "lr must be a real"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=4, steps=10.0), "steps must be an int"),
        (lambda X, y: heads.fit_head(X, y, 2, vocab_size=4, warmup=2.0), "warmup must be <="),
        (lambda X, y: heads.fit_head(X, y, 2.0, vocab_size=4), "d must be an integer"),
        (lambda X, y: heads.fit_head(X + 1j, y, 2, vocab_size=4), "features is complex"),
    ],
)
def test_bad_input_gives_clear_errors(call, match):
    rng = np.random.default_rng(12)
    X = rng.standard_normal((20, 3))
    y = np.arange(20) % 4
    with pytest.raises(ValueError, match=match):
        call(X, y)


def test_logit_svd_is_eckart_young_on_centred_logits_and_gives_u_trunc():
    """Independent paths: the logit-SVD head's centred-logit error is the tail of a numpy SVD,
    and its gap on the teacher's own contexts is the sandwich's U_trunc (factored branch)."""
    rng = np.random.default_rng(13)
    X = rng.standard_normal((40, 6)) @ np.diag([3, 2, 1, 0.5, 0.2, 0.1])
    W = rng.standard_normal((15, 6))
    Zc = X @ W.T
    Zc = Zc - Zc.mean(axis=1, keepdims=True)
    s = np.linalg.svd(Zc, compute_uv=False)
    teacher = bn.Target.from_factors(X, W)
    for r in (1, 2, 4):
        Wr = heads.logit_svd_weight(W, X, r)
        assert np.linalg.matrix_rank(Wr, tol=1e-9) <= r
        err = X @ Wr.T - Zc
        err = err - err.mean(axis=1, keepdims=True)
        assert np.linalg.norm(err) == pytest.approx(np.sqrt((s[r:] ** 2).sum()), rel=1e-9)
        head = heads.LowRankHead(
            6, 15, r, init="logit_svd", weight=W, features=X, dtype=torch.float64
        )
        assert heads.head_gap(head, X, teacher) == pytest.approx(
            bn.bounds(teacher, r).details["U_trunc"].value, rel=1e-7
        )


def test_factored_teacher_trains_like_its_dense_copy():
    rng = np.random.default_rng(14)
    X = rng.standard_normal((80, 5))
    W = rng.standard_normal((12, 5))
    factored = bn.Target.from_factors(X, W)
    dense = bn.Target.from_probs(factored.probs)
    kw = dict(steps=60, batch_size=32, lr=1e-2, init_std=0.3, progress=False, dtype=torch.float64)
    a, b = heads.fit_head(X, factored, 2, **kw), heads.fit_head(X, dense, 2, **kw)
    assert a.loss == pytest.approx(b.loss, rel=1e-9)


def test_start_head_is_copied_and_equals_the_named_init():
    rng = np.random.default_rng(15)
    X = rng.standard_normal((60, 5))
    W = rng.standard_normal((9, 5))
    teacher = bn.Target.from_factors(X, W)
    kw = dict(steps=40, batch_size=16, lr=1e-2, held_out=0.0, progress=False, dtype=torch.float64)
    start = heads.LowRankHead(5, 9, 2, init="logit_svd", weight=W, features=X, dtype=torch.float64)
    before = start.A.detach().clone()
    from_head = heads.fit_head(X, teacher, 2, init=start, **kw)
    named = heads.fit_head(X, teacher, 2, init="logit_svd", init_weight=W, **kw)
    assert torch.equal(start.A, before)  # the start is not trained in place
    assert from_head.loss == pytest.approx(named.loss, rel=1e-12)
    with pytest.raises(ValueError, match="start head"):
        heads.fit_head(X, teacher, 3, init=start, **kw)


def test_results_follow_the_protocol_and_rank_keyword_still_works():
    import dataclasses

    rng = np.random.default_rng(16)
    X = rng.standard_normal((40, 4))
    P = softmax(rng.standard_normal((40, 5)))
    kw = dict(steps=20, batch_size=8, progress=False, dtype=torch.float64)
    fit = heads.fit_head(X, P, 2, **kw)
    assert fit.d == 2 and fit.status == "completed" and fit.success and not fit.diverged
    assert fit.iterations == 20 and len(fit.history) >= 1
    record = fit.to_record()
    assert record["d"] == 2 and record["gap"] == fit.gap and record["success"] is True
    assert not {"head", "history", "train_index", "eval_index"} & set(record)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.gap = 0.0
    with pytest.warns(DeprecationWarning, match="rank=.*deprecated"):
        old = heads.fit_head(X, P, rank=2, **kw)
    assert old.loss == fit.loss
    ev = heads.evaluate_head(fit.head, X, P)
    assert ev.d == 2 and ev.n_rows == 40 and ev.to_record()["gap"] == ev.gap
    t = bn.Target.from_probs(P)
    (point,) = heads.rank_curve(t, [2], steps=10, lrs=(1e-2,), progress=False)
    assert point.d == 2 and point.gap >= bn.bounds(t, 2).lower - 1e-12
    assert set(point.to_record()) == {"d", "gap", "lr", "seconds"}


def test_warmup_cosine_schedule():
    s = heads.WarmupCosine(lr=1.0, steps=110, warmup_steps=10, final_fraction=0.1)
    assert s(0) == pytest.approx(0.1) and s(9) == pytest.approx(1.0)
    assert s(10) == pytest.approx(1.0) and s(60) == pytest.approx(0.55)
    assert s(110) == pytest.approx(0.1) and s(500) == pytest.approx(0.1)
