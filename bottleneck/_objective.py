"""Chunked evaluation of the gap ``G(H W^T + 1 b^T)`` and its gradients in torch.

Private machinery shared by :mod:`bottleneck.solver` and :mod:`bottleneck.fisher`.
Memory is ``O(chunk x V + (N + V) d)`` beyond the target's own storage.

With ``Z = H W^T + 1 b^T`` and ``q_i = softmax(z_i)``:

    G = sum_i pi_i KL(p_i || q_i) = sum_i pi_i (-H(p_i) - sum_j p_ij log q_ij)
    dG/dZ = D_pi (Q - P),  dG/dH = (dG/dZ) W,  dG/dW = (dG/dZ)^T H,  dG/db = 1^T (dG/dZ).
"""

from __future__ import annotations

import numpy as np
import torch

from .target import Target


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but torch.cuda.is_available() is False")
    return dev


class FactorObjective:
    """A smooth function ``f(Z)`` of ``Z = H W^T (+ 1 b^T)``, summed over row chunks.

    Subclasses implement :meth:`chunk_value_and_grad_z` (value and ``df/dZ`` of one chunk).
    """

    def __init__(self, target: Target, device: torch.device, dtype: torch.dtype, chunk_size: int | None = None):
        self.target = target
        self.device, self.dtype = device, dtype
        n, v = target.shape
        self.chunk = chunk_size or max(1, min(n, int(2**24 // max(v, 1))))
        self.w = torch.tensor(np.array(target.weights), device=device, dtype=dtype)
        # dense targets are copied to the device once; sparse and factored targets are
        # expanded block by block on every pass (memory O(chunk x V), never N x V)
        self.resident = target.storage == "dense"
        if self.resident:
            P = np.asarray(target.probs)
            self._P = torch.tensor(P, device=device, dtype=dtype)
            self._logp = torch.tensor(np.where(P > 0, np.asarray(target.log_probs), 0.0), device=device, dtype=dtype)
        neg_entropy = np.empty(n)
        for sl, p, logp in target.iter_rows():
            neg_entropy[sl] = (p * np.where(p > 0, logp, 0.0)).sum(axis=1)  # -H(p_i)
        self.neg_entropy = torch.as_tensor(neg_entropy, device=device, dtype=torch.float64)
        self._cache = (None, None, None)

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
        for s in range(0, n, self.chunk):
            sl = slice(s, min(n, s + self.chunk))
            val, Gz = self.chunk_value_and_grad_z(sl, self._logits(H, W, b, sl))
            total = total + val
            gH[sl] = Gz @ W
            gW += Gz.T @ H[sl]
            if gb is not None:
                gb += Gz.sum(dim=0)
        return total, gH, gW, gb

    def curvature_weights(self, sl: slice, Z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Rows ``q_i`` whose ``pi_i (diag q_i - q_i q_i^T)`` is the Gauss–Newton block of row ``i``."""
        raise NotImplementedError

    def diag_curvature(self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None):
        """Diagonal of the Gauss–Newton matrix w.r.t. ``H``, ``W`` and ``b``.

        ``D_H[i, k] = pi_i Var_{q_i}(W[:, k])``, ``D_W[j, k] = sum_i pi_i q_ij (1 - q_ij) H[i, k]^2``,
        ``D_b[j] = sum_i pi_i q_ij (1 - q_ij)``; used as a diagonal preconditioner.
        """
        n = H.shape[0]
        DH = torch.empty_like(H)
        DW = torch.zeros_like(W)
        Db = torch.zeros(W.shape[0], dtype=H.dtype, device=H.device)
        W2 = W * W
        for s in range(0, n, self.chunk):
            sl = slice(s, min(n, s + self.chunk))
            Q = self.curvature_weights(sl, self._logits(H, W, b, sl))
            w = self.w[sl, None]
            DH[sl] = w * (Q @ W2 - (Q @ W) ** 2)
            Qv = w * Q * (1 - Q)
            DW += Qv.T @ (H[sl] * H[sl])
            Db += Qv.sum(dim=0)
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
        oH = torch.empty_like(H)
        oW = torch.zeros_like(W)
        ob = torch.zeros_like(b) if b is not None else None
        for s in range(0, n, self.chunk):
            sl = slice(s, min(n, s + self.chunk))
            Z = self._logits(H, W, b, sl)
            _, Gz = self.chunk_value_and_grad_z(sl, Z)
            Q = self.curvature_weights(sl, Z)
            dZ = dH[sl] @ W.T + H[sl] @ dW.T
            if db is not None:
                dZ = dZ + db
            QdZ = Q * dZ
            M = self.w[sl, None] * (QdZ - Q * QdZ.sum(dim=1, keepdim=True))
            oH[sl] = M @ W + Gz @ dW
            oW += M.T @ H[sl] + Gz.T @ dH[sl]
            if ob is not None:
                ob += M.sum(dim=0)
        return oH, oW, ob

    def stationarity(self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> tuple[float, float]:
        """``(f, ||P_T(df/dZ)||_F)`` in one pass (see :meth:`riemannian_grad_norm`)."""
        return self._riemannian(H, W, b)

    def riemannian_grad_norm(self, H: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> float:
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
        for s in range(0, n, self.chunk):
            sl = slice(s, min(n, s + self.chunk))
            val, Gz = self.chunk_value_and_grad_z(sl, self._logits(H, W, b, sl))
            total = total + val
            GQW[sl] = Gz @ QW
            QHtG += QH[sl].T @ Gz
            gb += Gz.sum(dim=0)
        sq = (QHtG**2).sum() + (GQW**2).sum() - ((QHtG @ QW) ** 2).sum()
        if b is not None:
            sq = sq + (gb**2).sum()
        return float(total), float(torch.sqrt(torch.clamp(sq, min=0.0)))


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
        self.reference = None if H is None else (H.detach().clone(), W.detach().clone(),
                                                 None if b is None else b.detach().clone())

    def curvature_weights(self, sl, Z):
        return torch.softmax(Z, dim=1)

    def chunk_value_and_grad_z(self, sl, Z):
        logq = torch.log_softmax(Z, dim=1)
        p, w = self.rows(sl)[0], self.w[sl]
        grad = (torch.exp(logq) - p) * w[:, None]
        if self.reference is None:
            ce = -(p * logq).sum(dim=1)
            val = (w.double() * (ce.double() + self.neg_entropy[sl])).sum()
            return val, grad
        delta = Z - self._logits(*self.reference, sl)
        q0 = torch.softmax(Z - delta, dim=1)
        small = delta.max(dim=1).values <= 1.0
        lse_diff_small = torch.log1p((q0 * torch.expm1(torch.clamp(delta, max=1.0))).sum(dim=1))
        lse_diff_direct = torch.logsumexp(Z, dim=1) - torch.logsumexp(Z - delta, dim=1)
        lse_diff = torch.where(small, lse_diff_small, lse_diff_direct)
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
