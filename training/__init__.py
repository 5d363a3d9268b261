"""Training side of rnaloc-infer (needs the ``[train]`` extra: torch, scikit-learn for the regression).

What builds a shipped model: ``models`` (one network) and ``trainer`` (``rnaloc-train fit``),
``regression`` (``rnaloc-train regression``), ``ensemble_model`` + ``ensemble``
(``rnaloc-train ensemble``), ``averaging`` (``rnaloc-train average``) and ``release``
(``rnaloc-train release``: ONNX files, test expectation, model card evaluation).
"""
