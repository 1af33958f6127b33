"""Scaling-law fit: formula values, parameter recovery, finite differences, bad input."""

import numpy as np
import pytest

from bottleneck.empirical.scaling import (
    CHINCHILLA_FROZEN,
    PARAM_NAMES,
    ScalingLaw,
    law_jacobian,
    law_value,
    saturation_gaps,
)

TRUE = {"A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28, "E": 1.69}  # Chinchilla's fit
T_FINAL = 143_000 * 2_097_152


def grid():
    N, T = np.meshgrid(np.geomspace(4e8, 1.2e10, 6), np.geomspace(3e9, T_FINAL, 9))
    return N.ravel(), T.ravel()


def test_paper_sanity_values():
    """The values docs/paper.md computes from the paper's fitted law (A=119.09, alpha=0.246)."""
    law = ScalingLaw(dict(A=119.09, alpha=0.246, **CHINCHILLA_FROZEN))
    assert 410.7 / T_FINAL**0.28 == pytest.approx(0.2512, abs=5e-5)
    assert law.predict(14_067_712, T_FINAL) == pytest.approx(4.018, abs=5e-4)
    assert law.predict(405_334_016, T_FINAL) == pytest.approx(2.850, abs=5e-4)
    assert law.predict(11_846_072_320, T_FINAL) == pytest.approx(2.337, abs=5e-4)


@pytest.mark.parametrize(
    "fixed",
    [None, CHINCHILLA_FROZEN, {"E": 1.69}, {"alpha": 0.34, "beta": 0.28}, {"A": 406.4, "B": 410.7}],
    ids=["all-free", "chinchilla-frozen", "E-frozen", "exponents-frozen", "coefficients-frozen"],
)
def test_recovers_exact_parameters(fixed):
    N, T = grid()
    L = law_value(TRUE, N, T)
    fixed = {k: TRUE[k] for k in (fixed or {})}
    law = ScalingLaw.fit(N, T, L, fixed=fixed)
    assert set(law.free) == set(PARAM_NAMES) - set(fixed)
    for k in PARAM_NAMES:
        assert law.params[k] == pytest.approx(TRUE[k], rel=1e-6), k
    assert law.cost < 1e-20


def test_recovers_under_noise_with_bootstrap_interval():
    """Noisy data: the estimate is close, and the bootstrap spread of alpha matches the
    linearised standard error sigma * sqrt([(J^T J)^-1]_alpha,alpha) (independent oracle)."""
    N, T = grid()
    rng = np.random.default_rng(3)
    sigma = 0.002
    L = law_value(TRUE, N, T) + sigma * rng.standard_normal(N.size)
    law = ScalingLaw.fit(N, T, L, fixed=CHINCHILLA_FROZEN, bootstrap=100, seed=1)
    assert law.params["alpha"] == pytest.approx(TRUE["alpha"], rel=0.03)
    assert law.params["A"] == pytest.approx(TRUE["A"], rel=0.3)
    lo, hi = law.intervals["alpha"]
    assert lo < law.params["alpha"] < hi
    J = law_jacobian(TRUE, N, T)[:, [0, 1]]
    se_alpha = sigma * np.sqrt(np.linalg.inv(J.T @ J)[1, 1])
    boot_sd = np.std(law.bootstrap_params[:, law.free.index("alpha")])
    assert boot_sd == pytest.approx(se_alpha, rel=0.35)
    assert abs(law.params["alpha"] - TRUE["alpha"]) < 4 * se_alpha
    assert np.sqrt(2 * law.cost / N.size) == pytest.approx(sigma, rel=0.35)


def test_huber_resists_outliers():
    N, T = grid()
    rng = np.random.default_rng(5)
    L = law_value(TRUE, N, T) + 0.001 * rng.standard_normal(N.size)
    L[[3, 17, 40]] += 0.8  # three corrupted evaluations
    squared = ScalingLaw.fit(N, T, L, fixed=CHINCHILLA_FROZEN)
    huber = ScalingLaw.fit(N, T, L, fixed=CHINCHILLA_FROZEN, loss="huber", huber_delta=0.01)
    err = lambda law: abs(law.params["alpha"] - TRUE["alpha"])  # noqa: E731
    assert err(huber) < 0.01 < err(squared)


def test_jacobian_matches_central_differences():
    rng = np.random.default_rng(0)
    N = rng.uniform(1e7, 1e10, 5)
    T = rng.uniform(1e9, 3e11, 5)
    J = law_jacobian(TRUE, N, T)
    for j, k in enumerate(PARAM_NAMES):
        h = 1e-6 * max(abs(TRUE[k]), 1e-3)
        up, down = dict(TRUE), dict(TRUE)
        up[k] += h
        down[k] -= h
        fd = (law_value(up, N, T) - law_value(down, N, T)) / (2 * h)
        np.testing.assert_allclose(J[:, j], fd, rtol=1e-7, atol=1e-12)


def test_fitted_point_is_stationary():
    """Finite-difference gradient of the fitted objective vanishes at the fit (free params)."""
    N, T = grid()
    rng = np.random.default_rng(7)
    L = law_value(TRUE, N, T) + 0.01 * rng.standard_normal(N.size)
    law = ScalingLaw.fit(N, T, L, fixed={"E": 1.69})

    def objective(p):
        return 0.5 * np.sum((law_value(p, N, T) - L) ** 2)

    for k in law.free:
        h = 1e-6 * abs(law.params[k])
        up, down = dict(law.params), dict(law.params)
        up[k] += h
        down[k] -= h
        grad = (objective(up) - objective(down)) / (2 * h)
        scale = np.sum(
            np.abs(law.jacobian(N, T)[:, PARAM_NAMES.index(k)] * (law.predict(N, T) - L))
        )
        assert abs(grad) <= 1e-5 * scale, k
    assert objective(law.params) == pytest.approx(law.cost, rel=1e-10)


def test_saturation_gaps_and_relative_gap():
    law = ScalingLaw(dict(TRUE))
    pred = law.predict(1e8, 1e11)
    gaps = saturation_gaps(law, 1e8, 1e11, pred * 1.1, 5e10, law.predict(1e8, 5e10) * 1.04)
    assert gaps["gap_final"] == pytest.approx(0.1)
    assert gaps["gap_best"] == pytest.approx(0.04)
    assert law.relative_gap(1e8, 1e11, pred) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([1e8, 1e9], [1e10, 1e10], [3.0, 2.5]), {}, "5 free parameters .* only 2 points"),
        (
            ([1e8, -1.0], [1e10, 1e10], [3.0, 2.5]),
            dict(fixed=CHINCHILLA_FROZEN),
            "N must be finite and > 0; entry 1",
        ),
        (
            ([1e8, 1e9], [0.0, 1e10], [3.0, 2.5]),
            dict(fixed=CHINCHILLA_FROZEN),
            "T must be finite and > 0; entry 0",
        ),
        (
            ([1e8, 1e9], [1e10, 1e10], [3.0, np.nan]),
            dict(fixed=CHINCHILLA_FROZEN),
            "losses must be finite; entry 1",
        ),
        (([1e8, 1e9], [1e10, 1e10], [3.0]), dict(fixed=CHINCHILLA_FROZEN), "same length"),
        (([1e8, 1e9], [1e10, 1e10], [3.0, 2.5]), dict(fixed={"gamma": 1.0}), "unknown parameters"),
        (
            ([1e8, 1e9], [1e10, 1e10], [3.0, 2.5]),
            dict(fixed=CHINCHILLA_FROZEN, loss="l1"),
            "loss must be",
        ),
    ],
)
def test_fit_rejects(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ScalingLaw.fit(*args, **kwargs)
