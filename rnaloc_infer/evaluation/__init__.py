"""Scoring predictions against labels: label files, metrics, the evaluation report and plots.

Used by ``rnaloc-train evaluate`` and by training (``rnaloc_infer.training``), so the
labels and metrics of a run and of a shipped model come from one implementation:
``labels`` reads and matches labels TSVs, ``metrics`` defines the numbers, ``report``
builds the per-class table, ``plots`` draws ROC / PR curves. numpy only; matplotlib for
``plots`` (``[plots]``).
"""
