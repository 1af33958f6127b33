"""The application: bound-versus-loss tables (``report``), figures (``plots``), the demo
(``demo``) and the ``bottleneck`` command line (``cli``)."""
