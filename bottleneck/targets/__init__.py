"""Target constructors: synthetic spectra, n-gram corpora, language models (factored)."""

from .lm import ModelFeatures, from_model, model_features
from .ngram import NgramInfo, ngram, ngram_with_info
from .ngram_store import NgramStore
from .synthetic import synthetic, synthetic_spectrum
from .word_vocabulary import TopWords, top_words

__all__ = [
    "synthetic",
    "synthetic_spectrum",
    "ngram",
    "ngram_with_info",
    "NgramInfo",
    "NgramStore",
    "from_model",
    "model_features",
    "ModelFeatures",
    "TopWords",
    "top_words",
]
