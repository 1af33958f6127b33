"""Target constructors: synthetic spectra, n-gram corpora, language models (factored)."""

from .lm import ModelFeatures, from_model, model_features
from .ngram import NgramInfo, ngram
from .synthetic import synthetic, synthetic_spectrum

__all__ = [
    "synthetic",
    "synthetic_spectrum",
    "ngram",
    "NgramInfo",
    "from_model",
    "model_features",
    "ModelFeatures",
]
