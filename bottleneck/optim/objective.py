"""Chunked evaluation of the gap ``G(H W^T + 1 b^T)`` and its gradients in torch.

The objectives :mod:`bottleneck.optim.newton` and :mod:`bottleneck.optim.lbfgs` minimise
(:class:`GapObjective` for :func:`bottleneck.optim.solver.solve`, :class:`FisherObjective` for
:mod:`bottleneck.optim.fisher`), with the one-pass state of a Newton iteration
(:class:`SecondOrderState`). Memory is ``O(chunk x V + (N + V) d)`` beyond the target's own storage.

With ``Z = H W^T + 1 b^T`` and ``q_i = softmax(z_i)``:

    G = sum_i pi_i KL(p_i || q_i) = sum_i pi_i (-H(p_i) - sum_j p_ij log q_ij)
    dG/dZ = D_pi (Q - P),  dG/dH = (dG/dZ) W,  dG/dW = (dG/dZ)^T H,  dG/db = 1^T (dG/dZ).
"""

from __future__ import annotations

import numpy as np
import torch

from ..target import Target


def _diag_chunk(Q, w, W2W, H2_rows):
    """One chunk's share of the Gauss–Newton diagonal (:meth:`FactorObjective.diag_curvature`):
    ``(D_H rows, D_W term, D_b term)`` with ``w`` the chunk's weights as a column and
    ``W2W = [W o W, W]`` (one product with ``Q`` gives both moments)."""
    d = W2W.shape[1] // 2
    moments = Q @ W2W
    Qv = torch.addcmul(Q, Q, Q, value=-1.0).mul_(w)  # pi_i q_ij (1 - q_ij)
    # [H o H, 1]^T Qv: the D_W term and, as its last row, the column sums (D_b)
    HQ = torch.cat([H2_rows, H2_rows.new_ones((H2_rows.shape[0], 1))], dim=1).T @ Qv
    return w * (moments[:, :d] - moments[:, d:] ** 2), HQ[:d].T, HQ[d]


def _weighted_curvature(Q, w, dtype=None):
    """``(D_pi Q, 1 / pi)`` in ``dtype`` (default ``Q``'s) for :func:`_hvp_chunk`.

    ``1 / pi`` is set to 0 where it overflows ``dtype`` (weights below ~1e-38 in float32):
    those rows then contribute ``pi_i Q_i o dZ_i`` instead of ``pi_i (Q_i o dZ_i - ...)``,
    an error below the smallest normal number of ``dtype``."""
    dtype = dtype or Q.dtype
    w = w.to(dtype)
    w_inv = 1.0 / w
    return (w * Q.to(dtype)), torch.where(torch.isfinite(w_inv), w_inv, 0.0)


def _hvp_chunk(Qw, w_inv, Gz, H_rows, W, dH_rows, dW, db):
    """One chunk's share of the exact Hessian-vector product (:meth:`FactorObjective.hvp`):
    ``(H_H rows, H_W term, H_b term)`` from ``Qw = D_pi Q`` and ``w_inv = 1 / pi`` as a column
    (:func:`_weighted_curvature`).

    ``M = D_pi (Q o dZ) - (D_pi Q) o (Q o dZ) 1 1^T = Qw o (dZ - s 1^T)`` with the row sums
    ``s = (Q o dZ) 1``; written so that the ``chunk x V`` arrays are passed over as few times
    as possible (one product forms ``dZ``, ``M`` overwrites it), which is what bounds the
    cost of a product on CPU."""
    dZ = torch.cat([dH_rows, H_rows], dim=1) @ torch.cat([W, dW], dim=1).T  # dH W^T + H dW^T
    if db is not None:
        dZ += db
    s = torch.linalg.vecdot(Qw, dZ, dim=1).unsqueeze(1) * w_inv  # (Q o dZ) 1
    M = dZ.sub_(s).mul_(Qw)
    # (H^T M)^T rather than M^T H: the same numbers, several times faster on CPU (BLAS
    # is given the long dimension as the contiguous one)
    return (
        torch.addmm(Gz @ dW, M, W),
        torch.addmm(dH_rows.T @ Gz, H_rows.T, M).T,
        None if db is None else M.sum(dim=0),
    )


def _tangent_norm(QHtG, GQW, QW, gb) -> float:
    """``||P_T(G)||_F`` from ``Q_H^T G`` and ``G Q_W``
    (:meth:`FactorObjective.riemannian_grad_norm`), with the bias gradient ``gb`` (None
    without a bias) in quadrature."""
    sq = (QHtG**2).sum() + (GQW**2).sum() - ((QHtG @ QW) ** 2).sum()
    if gb is not None:
        sq = sq + (gb**2).sum()
    return float(torch.sqrt(torch.clamp(sq, min=0.0)))


def _log_partition_change(q0, delta, direct):
    """``lse(z0_i + delta_i) - lse(z0_i)`` per row from ``q0 = softmax(z0)``: the form
    ``log1p(sum_j q0_ij expm1(delta_ij))``, accurate to the size of the change, where
    ``max delta_i <= 1``; ``direct(rows)`` (a boolean row mask) gives the other rows."""
    big = delta.amax(dim=1) > 1.0
    # rows with max delta > 1 may overflow here (inf, nan): they are all replaced below
    out = torch.log1p(torch.linalg.vecdot(q0, torch.expm1(delta), dim=1))
    if bool(big.any()):
        out[big] = direct(big)
    return out


class FactorObjective:
    """A smooth function ``f(Z)`` of ``Z = H W^T (+ 1 b^T)``, summed over row chunks.

    Subclasses implement :meth:`chunk_value_and_grad_z` (value and ``df/dZ`` of one chunk).
    """

    def __init__(
        self,
        target: Target,
        device: torch.device,
        dtype: torch.dtype,
        chunk_size: int | None = None,
    ):
        self.target = target
        self.device, self.dtype = device, dtype
        n, v = target.shape
        self.chunk = chunk_size or max(1, min(n, int(2**24 // max(v, 1))))
        self.w = torch.tensor(np.array(target.weights), device=device, dtype=dtype)
        # dense targets are copied to the device once; sparse and factored targets are
        # expanded block by block on every pass (memory O(chunk x V), never N x V)
        self.resident = target.is_dense
        if self.resident:
            P = np.asarray(target.probs)
            self._P = torch.tensor(P, device=device, dtype=dtype)
            self._logp = torch.tensor(
                np.where(P > 0, np.asarray(target.log_probs), 0.0), device=device, dtype=dtype
            )
        neg_entropy, row_mass = np.empty(n), np.empty(n)
        for sl, p, logp in target.iter_rows():
            neg_entropy[sl] = (p * np.where(p > 0, logp, 0.0)).sum(axis=1)  # -H(p_i)
            row_mass[sl] = p.sum(axis=1)  # 1 within the target's tolerance
        self.neg_entropy = torch.as_tensor(neg_entropy, device=device, dtype=torch.float64)
        self.row_mass = torch.as_tensor(row_mass, device=device, dtype=torch.float64)
        self._cache = (None, None, None)

    def chunks(self, n: int):
        """Consecutive row slices of at most ``self.chunk`` rows covering ``range(n)``: the
        one loop every pass over the rows runs."""
        for start in range(0, n, self.chunk):
            yield slice(start, min(n, start + self.chunk))

    def tensors(self, H0, W0, b0):
        """The factors ``(H, W, b)`` as tensors on this objective's device and dtype (``b``
        None without a bias)."""
        H = torch.tensor(H0, device=self.device, dtype=self.dtype)
        W = torch.tensor(W0, device=self.device, dtype=self.dtype)
        b = torch.tensor(b0, device=self.device, dtype=self.dtype) if b0 is not None else None
        return H, W, b

    def rows(self, sl: slice):
        """``(P[sl], log P[sl] with 0 off the support)`` as device tensors."""
        if self.resident:
            return self._P[sl], self._logp[sl]
        if self._cache[0] == (sl.start, sl.stop):
            return self._cache[1], self._cache[2]
        p, logp = self.target.rows(sl)
        P = torch.as_tensor(p, device=self.device, dtype=self.dtype)
        L = torch.as_tensor(np.where(p > 0, logp, 0.0), device=self.device, dtype=self.dtype)
        self._cache = ((sl.start, sl.stop), P, L)
        return P, L

    def chunk_value_and_grad_z(self, sl: slice, Z: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError

    def _logits(self, H, W, b, sl):
        Z = H[sl] @ W.T
        return Z + b if b is not None else Z

    def value_and_grad(self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None):
        """Return ``(f, df/dH, df/dW, df/db)``; ``f`` accumulated in float64."""
        n = H.shape[0]
        gH = torch.empty_like(H)
        gW = torch.zeros_like(W)
        gb = torch.zeros_like(b) if b is not None else None
        total = torch.zeros((), dtype=torch.float64, device=H.device)
        for sl in self.chunks(n):
            val, Gz = self.chunk_value_and_grad_z(sl, self._logits(H, W, b, sl))
            total = total + val
            gH[sl] = Gz @ W
            gW += (H[sl].T @ Gz).T
            if gb is not None:
                gb += Gz.sum(dim=0)
        return total, gH, gW, gb

    def curvature_weights(
        self, sl: slice, Z: torch.Tensor
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """Rows ``q_i`` whose ``pi_i (diag q_i - q_i q_i^T)`` is the Gauss–Newton block of row
        ``i``."""
        raise NotImplementedError

    def chunk_state(self, sl: slice, Z: torch.Tensor):
        """``(value, df/dZ, curvature weights, row data or None)`` of one chunk (subclasses
        may share work; the row data, e.g. log-partition functions, is kept in the state)."""
        val, Gz = self.chunk_value_and_grad_z(sl, Z)
        return val, Gz, self.curvature_weights(sl, Z), None

    def value(self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """``f`` alone (float64), without the gradient's matrix products."""
        total = torch.zeros((), dtype=torch.float64, device=H.device)
        for sl in self.chunks(H.shape[0]):
            total = total + self.chunk_value_and_grad_z(sl, self._logits(H, W, b, sl))[0]
        return total

    def second_order_state(
        self, H, W, b, hvp_dtype=None, cache_bytes: int = 2**29
    ) -> SecondOrderState:
        """Everything one Newton iteration needs at ``(H, W, b)``, in a single pass over the rows.

        Value, gradient, Gauss–Newton diagonal (:meth:`diag_curvature`), Riemannian gradient
        norm (:meth:`riemannian_grad_norm`), and, when ``2 N V`` entries of ``hvp_dtype`` fit
        in ``cache_bytes``, the per-chunk weighted curvature ``D_pi Q`` and ``df/dZ`` so that
        :meth:`SecondOrderState.hvp` needs no softmax; where ``N V`` more entries of the
        objective's dtype fit too, the softmax itself, so that the trial decrease
        (:meth:`GapObjective.decrease_from`) needs none either. ``hvp_dtype`` (default: the
        objective's dtype) is the precision of the cached Hessian products; float32 suffices
        for the inner conjugate gradients of an inexact Newton method, whose outer gradient
        stays in the objective's dtype.
        """
        n, v = H.shape[0], W.shape[0]
        hd = hvp_dtype or self.dtype
        itemsize = torch.empty((), dtype=hd).element_size()
        cache = [] if 2 * n * v * itemsize <= cache_bytes else None
        # the curvature weights in the objective's dtype too, where they also fit: the
        # trial decrease (GapObjective.decrease_from) then needs no softmax of its own
        keep_q = (
            cache is not None
            and hasattr(self, "decrease_from")
            and n * v * (2 * itemsize + H.element_size()) <= cache_bytes
        )
        kept_q = [] if keep_q else None
        total = torch.zeros((), dtype=torch.float64, device=H.device)
        gH, gW = torch.empty_like(H), torch.zeros_like(W)
        gb = torch.zeros(v, dtype=H.dtype, device=H.device)
        DH, DW = torch.empty_like(H), torch.zeros_like(W)
        Db = torch.zeros(v, dtype=H.dtype, device=H.device)
        QH = torch.linalg.qr(H)[0] if H.shape[1] else H
        QW = torch.linalg.qr(W)[0] if W.shape[1] else W
        d, dq = H.shape[1], QW.shape[1]
        QHtG = torch.zeros((QH.shape[1], v), dtype=H.dtype, device=H.device)
        GQW = torch.empty((n, dq), dtype=H.dtype, device=H.device)
        W2W, H2 = torch.cat([W * W, W], dim=1), H * H
        # products sharing a chunk x V operand are taken as one: Gz [W, Q_W] and
        # [H, Q_H, 1]^T Gz (the chunk x V arrays are read once per product, which is
        # what a pass costs on CPU)
        WQW = torch.cat([W, QW], dim=1)
        HQH1 = torch.cat([H, QH, H.new_ones((n, 1))], dim=1)
        row_data = []
        for sl in self.chunks(n):
            val, Gz, Q, extra = self.chunk_state(sl, self._logits(H, W, b, sl))
            row_data.append(extra)
            total = total + val
            right = Gz @ WQW
            gH[sl], GQW[sl] = right[:, :d], right[:, d:]
            left = HQH1[sl].T @ Gz
            gW += left[:d].T
            QHtG += left[d:-1]
            gb += left[-1]
            DH[sl], dW_, db_ = _diag_chunk(Q, self.w[sl, None], W2W, H2[sl])
            DW += dW_
            Db += db_
            if cache is not None:
                cache.append((sl, *_weighted_curvature(Q, self.w[sl, None], hd), Gz.to(hd)))
            if kept_q is not None:
                kept_q.append(Q)
        has_b = b is not None
        grad_norm = _tangent_norm(QHtG, GQW, QW, gb if has_b else None)
        row_data = None if any(x is None for x in row_data) else torch.cat(row_data)
        return SecondOrderState(
            self,
            H,
            W,
            b,
            float(total),
            (gH, gW, gb if has_b else None),
            (DH, DW, Db if has_b else None),
            grad_norm,
            cache,
            hd,
            row_data,
            kept_q,
        )

    def diag_curvature(self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None):
        """Diagonal of the Gauss–Newton matrix w.r.t. ``H``, ``W`` and ``b``.

        ``D_H[i, k] = pi_i Var_{q_i}(W[:, k])``,
        ``D_W[j, k] = sum_i pi_i q_ij (1 - q_ij) H[i, k]^2``,
        ``D_b[j] = sum_i pi_i q_ij (1 - q_ij)``; used as a diagonal preconditioner.
        """
        n = H.shape[0]
        DH = torch.empty_like(H)
        DW = torch.zeros_like(W)
        Db = torch.zeros(W.shape[0], dtype=H.dtype, device=H.device)
        W2W = torch.cat([W * W, W], dim=1)
        for sl in self.chunks(n):
            Q = self.curvature_weights(sl, self._logits(H, W, b, sl))
            DH[sl], dW_, db_ = _diag_chunk(Q, self.w[sl, None], W2W, H[sl] * H[sl])
            DW += dW_
            Db += db_
        return DH, DW, (Db if b is not None else None)

    def hvp(self, H, W, b, dH, dW, db):
        """Exact Hessian-vector product of ``f(H W^T + 1 b^T)`` along ``(dH, dW, db)``.

        With ``G_z = df/dZ`` and the per-row curvature ``pi_i (diag q_i - q_i q_i^T)``
        (:meth:`curvature_weights`), ``dZ = dH W^T + H dW^T + 1 db^T`` and
        ``M = D_pi (Q o dZ - Q o (Q o dZ) 1 1^T)``:
        ``(H_H, H_W, H_b) = (M W + G_z dW, M^T H + G_z^T dH, 1^T M)``. The ``G_z`` terms are
        the curvature of the bilinear map ``(H, W) -> H W^T``; Gauss–Newton drops them, which
        is why it only converges linearly here (``G_z != 0`` at the optimum for ``d < rank``).
        """
        n = H.shape[0]
        if b is not None and db is None:
            db = torch.zeros_like(b)
        oH = torch.empty_like(H)
        oW = torch.zeros_like(W)
        ob = torch.zeros_like(b) if b is not None else None
        for sl in self.chunks(n):
            Z = self._logits(H, W, b, sl)
            _, Gz = self.chunk_value_and_grad_z(sl, Z)
            Qw, w_inv = _weighted_curvature(self.curvature_weights(sl, Z), self.w[sl, None])
            oH[sl], oW_, ob_ = _hvp_chunk(Qw, w_inv, Gz, H[sl], W, dH[sl], dW, db)
            oW += oW_
            if ob is not None:
                ob += ob_
        return oH, oW, ob

    def stationarity(
        self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None
    ) -> tuple[float, float]:
        """``(f, ||P_T(df/dZ)||_F)`` in one pass (see :meth:`riemannian_grad_norm`)."""
        return self._riemannian(H, W, b)

    def riemannian_grad_norm(
        self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None
    ) -> float:
        """``||P_T(df/dZ)||_F`` (and ``||df/db||`` in quadrature): first-order optimality on
        the manifold of rank-``d`` matrices, invariant to ``H -> H R, W -> W R^{-T}``.

        ``P_T(G) = Q_H Q_H^T G + G Q_W Q_W^T - Q_H Q_H^T G Q_W Q_W^T`` with ``Q_H, Q_W``
        orthonormal bases of the columns of ``H`` and ``W``.
        """
        return self._riemannian(H, W, b)[1]

    def _riemannian(self, H, W, b):
        n = H.shape[0]
        total = torch.zeros((), dtype=torch.float64, device=H.device)
        QH = torch.linalg.qr(H)[0] if H.shape[1] else H
        QW = torch.linalg.qr(W)[0] if W.shape[1] else W
        GQW = torch.empty((n, QW.shape[1]), dtype=H.dtype, device=H.device)
        QHtG = torch.zeros((QH.shape[1], W.shape[0]), dtype=H.dtype, device=H.device)
        gb = torch.zeros(W.shape[0], dtype=H.dtype, device=H.device)
        for sl in self.chunks(n):
            val, Gz = self.chunk_value_and_grad_z(sl, self._logits(H, W, b, sl))
            total = total + val
            GQW[sl] = Gz @ QW
            QHtG += QH[sl].T @ Gz
            gb += Gz.sum(dim=0)
        return float(total), _tangent_norm(QHtG, GQW, QW, gb if b is not None else None)


class SecondOrderState:
    """Value, gradient, Gauss–Newton diagonal and Riemannian gradient norm at one point,
    with cached curvature for Hessian-vector products
    (:meth:`FactorObjective.second_order_state`)."""

    def __init__(
        self,
        obj,
        H,
        W,
        b,
        value,
        grad,
        diag,
        grad_norm,
        cache,
        hvp_dtype,
        row_data=None,
        curvature_weights=None,
    ):
        self.obj, self.H, self.W, self.b = obj, H, W, b
        self.row_data, self.curvature_weights = row_data, curvature_weights
        self.value, self.grad, self.diag, self.grad_norm = value, grad, diag, grad_norm
        self.cache, self.hvp_dtype = cache, hvp_dtype
        self._Hh, self._Wh = H.to(hvp_dtype), W.to(hvp_dtype)

    def hvp(self, dH, dW, db):
        """Exact Hessian-vector product (same formula as :meth:`FactorObjective.hvp`), from the
        cached ``Q`` and ``df/dZ`` in ``hvp_dtype``; result in the objective's dtype."""
        if self.cache is None:
            return self.obj.hvp(self.H, self.W, self.b, dH, dW, db)
        x = torch.cat([dH.reshape(-1), dW.reshape(-1)] + ([] if db is None else [db])).to(
            self.hvp_dtype
        )
        out = self.hvp_flat(x).to(self.H.dtype)
        nH, nW = dH.numel(), dW.numel()
        return (
            out[:nH].view(dH.shape),
            out[nH : nH + nW].view(dW.shape),
            None if db is None else out[nH + nW :],
        )

    def hvp_flat(self, x):
        """:meth:`hvp` on one flat vector ``[vec dH, vec dW, db]`` (row-major, ``db`` only with
        a bias) in ``hvp_dtype``, returned the same way: the layout of Newton's CG vectors,
        which then need no conversion or splitting around each product."""
        H, W = self._Hh, self._Wh
        nH, nW = H.numel(), W.numel()
        dH, dW = x[:nH].view(H.shape), x[nH : nH + nW].view(W.shape)
        db = x[nH + nW :] if self.b is not None else None
        if self.cache is None:
            dt = self.H.dtype
            parts = self.obj.hvp(
                self.H, self.W, self.b, dH.to(dt), dW.to(dt), None if db is None else db.to(dt)
            )
            return torch.cat([p.reshape(-1) for p in parts if p is not None]).to(x.dtype)
        rows, oW, ob = [], None, None
        for sl, Qw, w_inv, Gz in self.cache:  # chunks are consecutive row blocks of vec(dH)
            oH_, oW_, ob_ = _hvp_chunk(Qw, w_inv, Gz, H[sl], W, dH[sl], dW, db)
            rows.append(oH_.reshape(-1))
            oW = oW_ if oW is None else oW + oW_
            ob = ob_ if ob is None else ob + ob_
        return torch.cat(rows + [oW.reshape(-1)] + ([] if ob is None else [ob]))

    def decrease(self, dH, dW, db) -> float:
        """``f(here) - f(here + step)`` for the factor step ``(dH, dW, db)``, accurate to the
        size of the difference where the objective supports it
        (:meth:`GapObjective.decrease_from`), else as a difference of two values."""
        H, W, b = self.H, self.W, self.b
        if hasattr(self.obj, "decrease_from") and self.row_data is not None:
            return float(
                self.obj.decrease_from(H, W, b, dH, dW, db, self.row_data, self.curvature_weights)
            )
        Hn, Wn = H + dH, W + dW
        return self.value - float(self.obj.value(Hn, Wn, None if b is None else b + db))


class GapObjective(FactorObjective):
    """``G(Z) = sum_i pi_i KL(p_i || softmax(z_i))``; ``dG/dZ = D_pi (softmax(Z) - P)``.

    With a reference point set (:meth:`set_reference`), the value returned is the
    *difference* ``G(Z) - G(Z_0)``, computed as
    ``sum_i pi_i [log1p(sum_j q0_ij expm1(delta_ij)) - <p_i, delta_i>]`` with
    ``delta = Z - Z_0``: accurate to the size of the difference rather than to ``eps`` times
    the loss, so the line search keeps making progress where ``G`` itself has no more
    significant digits (rows with ``max delta > 1`` fall back to the direct formula).
    """

    def __init__(self, target, device, dtype, chunk_size=None):
        super().__init__(target, device, dtype, chunk_size)
        self.reference = None

    def set_reference(self, H, W, b) -> None:
        """Measure values relative to ``Z_0 = H W^T (+ b)`` (None to switch off)."""
        self.reference = (
            None
            if H is None
            else (H.detach().clone(), W.detach().clone(), None if b is None else b.detach().clone())
        )

    def curvature_weights(self, sl, Z):
        return torch.softmax(Z, dim=1)

    def chunk_state(self, sl, Z):
        """Value, gradient, softmax and the float64 log-partition functions ``lse(z_i)``.

        ``q_i = exp(z_i - m_i) / s_i`` with ``m_i = max_j z_ij``, ``lse_i = m_i + log s_i`` and
        the cross-entropy ``-sum_j p_ij log q_ij = lse_i sum_j p_ij - <p_i, z_i>``: three passes
        over the chunk where ``logsumexp`` then ``log_softmax`` take twice as many."""
        if self.reference is not None:
            return super().chunk_state(sl, Z)
        m = Z.amax(dim=1, keepdim=True)
        q = torch.exp(Z - m)
        mass = q.sum(dim=1, keepdim=True)
        q /= mass
        lse = (m.double() + torch.log(mass.double())).squeeze(1)
        p, w = self.rows(sl)[0], self.w[sl]
        ce = lse * self.row_mass[sl] - torch.linalg.vecdot(p, Z, dim=1).double()
        val = (w.double() * (ce + self.neg_entropy[sl])).sum()
        return val, torch.sub(q, p).mul_(w[:, None]), q, lse

    def decrease_from(self, H, W, b, dH, dW, db, lse0, softmax=None) -> torch.Tensor:
        """``G(Z_0) - G(Z_0 + delta)`` with ``Z_0 = H W^T (+ b)``, ``delta = dH W^T + H dW^T +
        dH dW^T (+ db)`` (the exact change of the product) and ``lse0`` the log-partition
        functions at ``Z_0``: ``-sum_i pi_i [log1p(sum_j q0_ij expm1(delta_ij)) - <p_i, delta_i>]``,
        accurate to the size of the difference (rows with ``max delta > 1`` use
        ``lse(z0_i + delta_i) - lse0_i`` directly). ``softmax``: the chunks of
        ``q0 = softmax(Z_0)`` if kept (:meth:`FactorObjective.second_order_state`), else
        recomputed from ``lse0``."""
        n = H.shape[0]
        Wn = W + dW
        total = torch.zeros((), dtype=torch.float64, device=H.device)
        for k, sl in enumerate(self.chunks(n)):
            delta = (
                torch.cat([dH[sl], H[sl]], dim=1) @ torch.cat([Wn, dW], dim=1).T
            )  # dH (W + dW)^T + H dW^T
            if db is not None:
                delta += db
            lse0_rows = lse0[sl].to(delta.dtype)
            if softmax is None:
                q0 = torch.exp(self._logits(H, W, b, sl) - lse0_rows[:, None])
            else:
                q0 = softmax[k]

            def direct(rows, sl=sl, delta=delta, lse0_rows=lse0_rows):
                Z0 = H[sl][rows] @ W.T
                if b is not None:
                    Z0 = Z0 + b
                return torch.logsumexp(Z0 + delta[rows], dim=1) - lse0_rows[rows]

            lse_diff = _log_partition_change(q0, delta, direct)
            p = self.rows(sl)[0]
            total = (
                total
                + (
                    self.w[sl].double() * (lse_diff - torch.linalg.vecdot(p, delta, dim=1)).double()
                ).sum()
            )
        return -total

    def chunk_value_and_grad_z(self, sl, Z):
        logq = torch.log_softmax(Z, dim=1)
        p, w = self.rows(sl)[0], self.w[sl]
        grad = (torch.exp(logq) - p) * w[:, None]
        if self.reference is None:
            ce = -(p * logq).sum(dim=1)
            val = (w.double() * (ce.double() + self.neg_entropy[sl])).sum()
            return val, grad
        Z0 = self._logits(*self.reference, sl)
        delta = Z - Z0
        lse_diff = _log_partition_change(
            torch.softmax(Z0, dim=1),
            delta,
            lambda rows: torch.logsumexp(Z[rows], dim=1) - torch.logsumexp(Z0[rows], dim=1),
        )
        val = (w.double() * (lse_diff - (p * delta).sum(dim=1)).double()).sum()
        return val, grad


class FisherObjective(FactorObjective):
    """``E(Z) = 1/2 sum_i pi_i Var_{p_i}(a_i - z_i)`` (second-order model of ``G``, theory.md §3).

    ``dE/dZ_ij = -pi_i p_ij (r_ij - E_{p_i} r_i)`` with ``r = A - Z``; entries outside the
    support carry zero weight, so targets with zeros are fine.
    """

    def curvature_weights(self, sl, Z):
        return self.rows(sl)[0]

    def chunk_value_and_grad_z(self, sl, Z):
        (p, logp), w = self.rows(sl), self.w[sl]
        R = logp - Z
        mean = (p * R).sum(dim=1, keepdim=True)
        dev = R - mean
        var = (p * dev * dev).sum(dim=1)
        val = 0.5 * (w.double() * var.double()).sum()
        return val, -(p * dev) * w[:, None]
