"""Training side of rnaloc-infer (needs the ``[train]`` extra: torch, scikit-learn for the regression).

What builds a shipped model: ``models`` (one network) and ``trainer`` (``rnaloc-train fit``),
``regression`` (``rnaloc-train regression``), ``ensemble_model`` + ``ensemble``
(``rnaloc-train ensemble``) and ``averaging`` (``rnaloc-train average``). Shipping a checkpoint
(``rnaloc-train release``) is ``rnaloc_infer.export.release``: training never imports export.
"""
