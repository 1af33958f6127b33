"""Hypothesis strategies for targets, logits, spectra and ranks (valid by construction)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bottleneck as bn

sizes = st.tuples(st.integers(1, 7), st.integers(2, 8))


@st.composite
def weight_vectors(draw, n: int):
    kind = draw(st.sampled_from(["uniform", "random", "skewed"]))
    if kind == "uniform":
        return np.full(n, 1.0 / n)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.05, 1.0, n) if kind == "random" else 10.0 ** rng.uniform(-4, 0, n)
    return w / w.sum()


@st.composite
def logit_matrices(draw, n: int | None = None, v: int | None = None, max_rank: int | None = None):
    """Logits with a random spectrum shape: dense, low-rank, near-one-hot rows, near-degenerate
    rows."""
    if n is None or v is None:
        n, v = draw(sizes)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([0.05, 0.5, 2.0, 6.0]))
    rank = draw(st.integers(0, min(n, v) if max_rank is None else min(max_rank, n, v)))
    Z = (
        rng.standard_normal((n, rank))
        @ rng.standard_normal((rank, v))
        * scale
        / max(1, rank) ** 0.5
    )
    style = draw(st.sampled_from(["plain", "one_hot_rows", "duplicate_rows", "tiny_perturbation"]))
    if style == "one_hot_rows":
        rows = rng.random(n) < 0.5
        Z[rows, rng.integers(0, v)] += 25.0  # probabilities down to ~e^-25
    elif style == "duplicate_rows" and n > 1:
        Z[1:] = Z[0] + 1e-9 * rng.standard_normal((n - 1, v))
    elif style == "tiny_perturbation":
        Z = Z + 1e-7 * rng.standard_normal((n, v))
    return Z


@st.composite
def targets(draw, bias=None, zeros: bool = False):
    """A Target with random size, spectrum, weights; optionally with zero probabilities."""
    n, v = draw(sizes)
    Z = draw(logit_matrices(n, v))
    w = draw(weight_vectors(n))
    b = draw(st.booleans()) if bias is None else bias
    if not zeros:
        return bn.Target.from_logits(Z, weights=w, bias=b)
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random(P.shape) < 0.3
    mask[np.arange(n), P.argmax(axis=1)] = False  # keep each row non-empty
    P[mask] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    return bn.Target.from_probs(P, weights=w, bias=b)


def ranks(max_value: int = 9):
    return st.integers(0, max_value)


# -- drawn element by element with hypothesis.extra.numpy: failures shrink to simple arrays
def bounded_matrices(max_side: int = 6, min_columns: int = 1, bound: float = 8.0):
    """Small float64 matrices with entries in ``[-bound, bound]``."""
    shapes = st.tuples(st.integers(1, max_side), st.integers(min_columns, max_side))
    elements = st.floats(-bound, bound, allow_nan=False, allow_subnormal=False)
    return shapes.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=elements))


def singular_value_arrays(max_size: int = 10):
    """Non-negative spectra in any order (the bounds sort them), shrinking towards zeros."""
    elements = st.floats(0.0, 50.0, allow_nan=False, allow_subnormal=False)
    return hnp.arrays(np.float64, st.integers(1, max_size), elements=elements)


@st.composite
def stored_targets(draw):
    """A Target in any storage: dense (full support or with zeros), sparse CSR, or factored
    (``softmax(W x + b)`` from random features, head and head bias)."""
    storage = draw(st.sampled_from(["dense", "sparse", "factored"]))
    bias = draw(st.booleans())
    if storage == "factored":
        n, v = draw(sizes)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        dim = draw(st.integers(1, 4))
        scale = draw(st.sampled_from([0.1, 1.0, 4.0]))
        X, W = rng.standard_normal((n, dim)), rng.standard_normal((v, dim)) * scale
        head_bias = rng.standard_normal(v) if draw(st.booleans()) else None
        return bn.Target.from_factors(X, W, head_bias, weights=draw(weight_vectors(n)), bias=bias)
    t = draw(targets(bias=bias, zeros=draw(st.booleans())))
    if storage == "sparse":
        from scipy import sparse

        return bn.Target.from_sparse(sparse.csr_matrix(t.probs), weights=t.weights, bias=bias)
    return t


# -- malformed input: what a user may pass by mistake (each draw is invalid by construction)
#: Kinds of malformed matrices; the first group is invalid as logits too, the rest only as
#: probabilities (negative entries and rows off the simplex are fine logits).
BAD_FOR_ANY_MATRIX = (
    "nan",
    "inf",
    "one_dimensional",
    "three_dimensional",
    "no_rows",
    "no_columns",
    "complex",
    "masked",
    "strings",
    "ragged",
    "none",
    "scalar",
    "sparse",
    "object_with_none",
)
BAD_FOR_PROBABILITIES = ("negative", "row_sum_off")


@st.composite
def malformed_matrices(draw, kinds=BAD_FOR_ANY_MATRIX + BAD_FOR_PROBABILITIES, min_columns=2):
    """``(kind, value)``: an (N, V) probability matrix spoiled in one way."""
    from scipy import sparse

    kind = draw(st.sampled_from(kinds))
    n, v = draw(st.integers(1, 5)), draw(st.integers(max(2, min_columns), 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    P = rng.dirichlet(np.ones(v), size=n)
    i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, v - 1))
    spoil = {
        "nan": lambda: _with(P, i, j, np.nan),
        "inf": lambda: _with(P, i, j, draw(st.sampled_from([np.inf, -np.inf]))),
        "negative": lambda: _with(P, i, j, -draw(st.floats(1e-300, 1e3))),
        "row_sum_off": lambda: _scaled_row(P, i, draw(st.sampled_from([1e-6, 0.5, 10.0]))),
        "one_dimensional": lambda: P[0],
        "three_dimensional": lambda: P[None],
        "no_rows": lambda: np.zeros((0, v)),
        "no_columns": lambda: np.zeros((n, 0)),
        "complex": lambda: P + 1j * draw(st.sampled_from([0.0, 1e-3])),
        "masked": lambda: np.ma.masked_array(P, mask=P < P.mean()),
        "strings": lambda: P.astype(str),
        "ragged": lambda: [list(P[0]), list(P[0][:-1])],
        "none": lambda: None,
        "scalar": lambda: 0.5,
        "sparse": lambda: sparse.csr_matrix(P),
        "object_with_none": lambda: _with(P.astype(object), i, j, None),
    }
    return kind, spoil[kind]()


def _with(P, i, j, value):
    P = P.copy()
    P[i, j] = value
    return P


def _scaled_row(P, i, factor):
    P = P.copy()
    P[i] *= 1.0 + factor
    return P


@st.composite
def malformed_weights(draw, n: int):
    """Context weights for ``n`` contexts spoiled in one way (invalid with or without
    ``normalize``)."""
    w = np.full(n, 1.0 / n)
    kind = draw(
        st.sampled_from(["shape", "zero", "negative", "nan", "inf", "strings", "complex", "2-D"])
    )
    return {
        "shape": lambda: np.full(n + 1, 1.0 / (n + 1)),
        "zero": lambda: _with(w[None], 0, n - 1, 0.0)[0],
        "negative": lambda: _with(w[None], 0, 0, -0.5)[0],
        "nan": lambda: _with(w[None], 0, 0, np.nan)[0],
        "inf": lambda: _with(w[None], 0, 0, np.inf)[0],
        "strings": lambda: w.astype(str),
        "complex": lambda: w + 0.5j,
        "2-D": lambda: w[None],
    }[kind]()


#: Values that are not a bool (a string "False" is truthy, 0/1 are not flags).
malformed_flags = st.sampled_from(["False", "True", "", 0, 1, 1.0, None, [True], "no"])

#: Values that are not a rank (an integer >= 0).
malformed_ranks = st.one_of(
    st.integers(max_value=-1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["2", None, True, False, [1], np.float64(2.0), 2 + 0j]),
)
