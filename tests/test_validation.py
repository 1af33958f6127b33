"""Bad input, drawn by hypothesis: every constructor of a Target and ``bounds`` answer a
malformed argument with a ValueError or TypeError that names it, raised by the package's own
checks (not deep inside numpy or scipy), and never with a NaN result."""

import math
import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

import bottleneck as bn
from bottleneck import _validation as _v

from .strategies import (
    BAD_FOR_ANY_MATRIX,
    malformed_flags,
    malformed_matrices,
    malformed_ranks,
    malformed_weights,
    targets,
)

PACKAGE = Path(bn.__file__).resolve().parent


def rejected(call, name):
    """``call()`` must raise ValueError or TypeError, from the package's own code, whose
    message names the argument ``name``."""
    with pytest.raises((ValueError, TypeError)) as err:
        call()
    assert name in str(err.value), (name, str(err.value))
    frame = traceback.extract_tb(err.value.__traceback__)[-1]
    assert Path(frame.filename).resolve().is_relative_to(PACKAGE), (frame, str(err.value))


def valid_probs(n=3, v=4):
    return np.random.default_rng(0).dirichlet(np.ones(v), size=n)


@given(bad=malformed_matrices())
def test_from_probs_rejects_malformed_matrices(bad):
    rejected(lambda: bn.Target.from_probs(bad[1]), "P")


@given(bad=malformed_matrices(kinds=BAD_FOR_ANY_MATRIX))
def test_from_logits_rejects_malformed_matrices(bad):
    rejected(lambda: bn.Target.from_logits(bad[1]), "Z")


@given(bad=malformed_matrices(kinds=BAD_FOR_ANY_MATRIX, min_columns=1), which=st.booleans())
def test_from_factors_rejects_malformed_factors(bad, which):
    kind, value = bad
    if kind == "no_columns":  # D = 0 on one side: rejected as empty, or as a D mismatch
        value = np.zeros((3, 0))
    X, W = np.ones((3, 2)), np.eye(4, 2)
    if which:
        rejected(lambda: bn.Target.from_factors(value, W), "features")
    else:
        rejected(lambda: bn.Target.from_factors(X, value), "head")


@given(
    kind=st.sampled_from(
        ["dense", "nan", "negative", "row_sum_off", "complex", "one_column", "no_rows", "string"]
    )
)
def test_from_sparse_rejects_malformed_matrices(kind):
    P = sparse.csr_matrix(valid_probs())
    if kind in ("nan", "negative", "row_sum_off"):
        P.data[0] = {"nan": np.nan, "negative": -0.1, "row_sum_off": 5.0}[kind]
    value = {
        "dense": valid_probs(),
        "complex": P.astype(complex),
        "one_column": sparse.csr_matrix(np.ones((3, 1))),
        "no_rows": sparse.csr_matrix((0, 4)),
        "string": "P.npz",
    }.get(kind, P)
    rejected(lambda: bn.Target.from_sparse(value), "P")


@given(data=st.data(), ctor=st.sampled_from(["probs", "logits", "sparse", "factors"]))
def test_constructors_reject_malformed_weights_and_flags(data, ctor):
    P = valid_probs()
    make = {
        "probs": lambda **kw: bn.Target.from_probs(P, **kw),
        "logits": lambda **kw: bn.Target.from_logits(np.log(P), **kw),
        "sparse": lambda **kw: bn.Target.from_sparse(sparse.csr_matrix(P), **kw),
        "factors": lambda **kw: bn.Target.from_factors(np.log(P), np.eye(4), **kw),
    }[ctor]
    which = data.draw(st.sampled_from(["weights", "bias", "normalize"]))
    if which == "weights":
        w = data.draw(malformed_weights(3))
        normalize = data.draw(st.booleans())
        rejected(lambda: make(weights=w, normalize=normalize), "weights")
    else:
        rejected(lambda: make(**{which: data.draw(malformed_flags)}), which)


@settings(max_examples=25)
@given(t=st.booleans().flatmap(lambda zeros: targets(zeros=zeros)), d=malformed_ranks)
def test_bounds_rejects_malformed_ranks(t, d):
    rejected(lambda: bn.bounds(t, d), "d")


@settings(max_examples=25)
@given(t=targets(), data=st.data())
def test_bounds_rejects_malformed_options_naming_them(t, data):
    which = data.draw(st.sampled_from(["method", "floors", "fisher_estimate", "solve"]))
    value = data.draw(
        {
            "method": st.sampled_from(["fast", "", None, 1]),
            "floors": st.sampled_from([[0.0], [-1e-3], [np.nan], "1e-3", 0.1, [None]]),
            "fisher_estimate": st.sampled_from([np.nan, -1.0, np.inf, "0.1", [0.1]]),
            "solve": malformed_flags,
        }[which]
    )
    rejected(lambda: bn.bounds(t, 1, **{which: value}), which)


@settings(max_examples=25)
@given(t=st.booleans().flatmap(lambda zeros: targets(zeros=zeros)), d=st.integers(0, 9))
def test_bounds_of_valid_input_are_finite_numbers(t, d):
    """The other side: valid input gives finite, ordered numbers, never NaN."""
    s = bn.bounds(t, d)
    values = [b.value for b in s.details.values()] + [s.lower, s.upper, s.entropy]
    assert all(math.isfinite(x) and x >= 0 for x in values), s
    assert s.lower <= s.upper * (1 + 1e-9) + 1e-12


@given(
    s=st.lists(st.floats(0, 50), min_size=1, max_size=6),
    which=st.sampled_from(["singular_values", "weights", "min_probs", "bias", "vocab_size"]),
    data=st.data(),
)
def test_bounds_from_spectrum_rejects_malformed_constants(s, which, data):
    good = dict(weights=[0.5, 0.5], min_probs=[0.1, 0.2])
    bad = {
        "singular_values": st.sampled_from([[np.nan], [-1.0], "1,2", [1 + 1j], [[1.0, 2.0]]]),
        "weights": st.sampled_from([[0.9, 0.9], [np.nan, 0.5], [-0.5, 0.5], ["a", "b"]]),
        "min_probs": st.sampled_from([[0.9, 0.1], [0.0, 0.1], [np.nan, 0.1], [1j, 0.1]]),
        "bias": malformed_flags,
        "vocab_size": st.sampled_from([1, 2.5, "4", 20]),  # 20: min_probs 0.1 > 1/20
    }[which]
    value = data.draw(bad)
    if which == "singular_values":
        call = lambda: bn.bounds_from_spectrum(value, 0, **good)  # noqa: E731
        name = "singular values"
    else:
        call = lambda: bn.bounds_from_spectrum(s, 0, **{**good, which: value})  # noqa: E731
        name = "min_probs" if which == "vocab_size" and value == 20 else which
    rejected(call, name)


@pytest.mark.parametrize(
    "check, value, error",
    [
        (lambda x: _v.check_bool(x, "flag"), "False", TypeError),
        (lambda x: _v.check_int(x, "n", minimum=1), 0, ValueError),
        (lambda x: _v.check_int(x, "n"), 2.0, TypeError),
        (lambda x: _v.check_real(x, "tol", minimum=0.0, strict=True), 0.0, ValueError),
        (lambda x: _v.check_real(x, "tol"), "1e-8", TypeError),
        (lambda x: _v.check_budget(x, "max_seconds"), float("nan"), ValueError),
        (lambda x: _v.as_index_array(x, "tokens", 5), [0.5, 1.0], TypeError),
        (lambda x: _v.as_index_array(x, "tokens", 5), [0, 5], ValueError),
    ],
)
def test_checks_raise_a_value_or_type_error_naming_the_argument(check, value, error):
    with pytest.raises(error) as err:
        check(value)
    assert isinstance(err.value, ValueError)  # ArgumentTypeError is both
    assert str(err.value).split()[0] in ("flag", "n", "tol", "max_seconds", "tokens")


def test_rank_weights_and_rows():
    assert _v.check_rank(np.int64(3)) == 3
    with pytest.raises(ValueError, match="float 2.0; pass int"):
        _v.check_rank(2.0)
    np.testing.assert_allclose(_v.as_weights([2.0, 6.0], 2, normalize=True), [0.25, 0.75])
    np.testing.assert_allclose(_v.as_weights(None, 4), np.full(4, 0.25))
    with pytest.raises(ValueError, match="row 1 sums to 0.9"):
        _v.check_probability_rows(np.array([[0.5, 0.5], [0.5, 0.4]]))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        _v.check_logits(np.zeros((2, 2)), (2, 3))


def test_weights_that_would_underflow_or_overflow_when_normalised():
    P = valid_probs(2, 3)
    t = bn.Target.from_probs(P, weights=[1e308, 1e308], normalize=True)
    np.testing.assert_array_equal(t.weights, [0.5, 0.5])
    with pytest.raises(ValueError, match=r"weights\[0\] = 1e-320 is 0 once"):
        bn.Target.from_probs(P, weights=[1e-320, 1e10], normalize=True)


def test_normalize_cannot_make_inf_or_zero_rows():
    t = bn.Target.from_probs([[1e308, 1e308, 0.0], [1e-320, 3e-320, 0.0]], normalize=True)
    np.testing.assert_allclose(t.probs, [[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]], rtol=1e-2)
    assert np.isfinite(t.probs).all() and (t.probs.sum(axis=1) == pytest.approx(1.0))
    s = bn.Target.from_sparse(sparse.csr_matrix([[1e308, 1e308], [1.0, 3.0]]), normalize=True)
    np.testing.assert_allclose(s.probs, [[0.5, 0.5], [0.25, 0.75]])


def test_the_valid_twins_pass():
    """The malformed draws above differ from these in one argument only."""
    P = valid_probs()
    assert bn.Target.from_probs(P, weights=[0.2, 0.3, 0.5], bias=True).bias
    assert bn.Target.from_sparse(sparse.csr_matrix(P), normalize=np.bool_(True)).shape == (3, 4)
    assert bn.Target.from_factors(np.ones((3, 2)), np.eye(4, 2)).shape == (3, 4)
    assert bn.bounds_from_spectrum([3.0, 1.0], 0, weights=[0.5, 0.5], min_probs=[0.1, 0.2])
    assert bn.bounds(bn.Target.from_probs(P), np.int64(1), floors=[1e-3]).d == 1
