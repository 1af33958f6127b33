"""Target constructors: synthetic spectra now; n-gram corpora and language models later."""

from .synthetic import synthetic, synthetic_spectrum

__all__ = ["synthetic", "synthetic_spectrum"]
