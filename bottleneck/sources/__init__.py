"""Data sources, all offline: language models (``lm``), text corpora (``corpora``), the
packaged Pythia evaluations (``pythia``), tokenizers (``tokenizers``) and per-checkpoint
losses (``checkpoints``). Optional packages are located without being imported."""
