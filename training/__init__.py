"""Training side of rnaloc-infer (needs the ``[train]`` extra: torch)."""
