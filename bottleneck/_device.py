"""Choosing the torch device: ``"auto"`` means CUDA when available, else CPU."""

from __future__ import annotations


def resolve_device(device: str):
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch.

    Returns a ``torch.device``; raises ValueError for an unknown name or an unavailable CUDA.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' requested but torch.cuda.is_available() is False")
    return dev
