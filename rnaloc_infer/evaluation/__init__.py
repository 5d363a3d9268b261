"""Scoring predictions against labels: label files, metrics, the evaluation report and plots.

Used by ``rnaloc-infer evaluate`` and by training (``rnaloc_infer.training``), so the
metrics of a run and of a shipped model come from one implementation. numpy only;
matplotlib for ``plots`` (``[plots]``).
"""
