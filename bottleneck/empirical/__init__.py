"""Empirical studies on heads and models: trained rank-d heads (``heads``), degeneration
metrics (``degeneration``) and the saturation scaling law (``scaling``). Not certified: each
module says what it measures and how it is tested."""
