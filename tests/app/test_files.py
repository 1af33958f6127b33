"""app.files: reading the command line's inputs without unpickling, with one-line errors,
and the row-sum tolerance of probabilities stored in float32."""

import numpy as np
import pytest
import torch

from bottleneck._validation import ROW_SUM_ATOL
from bottleneck.app import files


def test_the_tolerance_fits_the_precision_files_are_stored_in():
    assert files.float_tolerance(np.float64, 50_000) == ROW_SUM_ATOL
    assert files.float_tolerance(np.int64, 10) == ROW_SUM_ATOL
    eps32 = float(np.finfo(np.float32).eps)
    assert files.float_tolerance(np.float32, 10_000) == pytest.approx(4 * 100 * eps32)
    assert files.float_tolerance(np.float16, 4) > files.float_tolerance(np.float32, 4)


@pytest.mark.parametrize("V", [3, 1000, 50_000])
def test_a_float32_softmax_is_within_the_tolerance(tmp_path, V):
    """torch's float32 softmax of wide logits sums to 1 within 4 sqrt(V) eps32."""
    z = torch.randn(64, V, generator=torch.Generator().manual_seed(V)) * 5
    np.save(tmp_path / "p.npy", torch.softmax(z, -1).numpy())
    loaded = files.load_array(tmp_path / "p.npy")
    P, note = files.probability_rows(loaded)
    assert loaded.stored_dtype == np.float32 and "float32 probabilities" in note
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_float32_weights_and_float64_values_are_left_to_validation(tmp_path):
    np.save(tmp_path / "w.npy", np.full(7, 1 / 7, dtype=np.float32))
    w, note = files.probability_rows(files.load_array(tmp_path / "w.npy", "weights"))
    assert w.shape == (7,) and "weights sum to 1" in note and abs(w.sum() - 1) < 1e-15
    np.save(tmp_path / "p.npy", np.full((2, 3), 0.3))  # float64, off by 0.1: left alone
    P, note = files.probability_rows(files.load_array(tmp_path / "p.npy"))
    assert note == "" and (P == 0.3).all()


def test_archives_named_like_arrays_and_the_reverse(tmp_path):
    np.savez(tmp_path / "a.npz", P=np.eye(2))
    (tmp_path / "a.npy").write_bytes((tmp_path / "a.npz").read_bytes())
    with pytest.raises(files.InputError, match="is an .npz archive.*rename it to .npz"):
        files.load_array(tmp_path / "a.npy")
    np.save(tmp_path / "b.npy", np.eye(2))
    (tmp_path / "b.npz").write_bytes((tmp_path / "b.npy").read_bytes())
    with pytest.raises(files.InputError, match="is an .npy array.*rename it to .npy"):
        files.load_array(tmp_path / "b.npz")


def test_keys_and_shapes_by_kind(tmp_path):
    np.savez(tmp_path / "all.npz", logits=np.zeros((2, 3)), sigma=np.ones(2), pi=np.ones(2) / 2)
    assert files.load_array(tmp_path / "all.npz").values.shape == (2, 3)
    assert files.load_array(tmp_path / "all.npz", "spectrum").values.tolist() == [1.0, 1.0]
    assert files.load_array(tmp_path / "all.npz", "weights").values.tolist() == [0.5, 0.5]
    np.save(tmp_path / "col.npy", np.ones((4, 1)))
    assert files.load_array(tmp_path / "col.npy", "spectrum").values.shape == (4,)
    np.save(tmp_path / "sq.npy", np.ones((2, 2)))
    with pytest.raises(files.InputError, match=r"expected a 1-D array of weights; got shape"):
        files.load_array(tmp_path / "sq.npy", "weights")
