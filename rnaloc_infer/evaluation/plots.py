"""ROC and precision-recall figures (one curve per class), written as PNG.

Why separate and lazy: matplotlib is an optional extra, not a runtime dependency. It is
imported inside :func:`plot_curves`, with the non-interactive Agg backend so it works on
headless servers; callers that get ``None`` back carry on without figures.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from rnaloc_infer.evaluation.metrics import pr_points, roc_points
from rnaloc_infer.output.files import atomic_path
from rnaloc_infer.evaluation.report import MetricsTable

log = logging.getLogger(__name__)


def _pyplot():
    """Return matplotlib.pyplot on the Agg backend, or None (with a warning) if it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: skipping roc.png / pr.png (pip install matplotlib)")
        return None
    return plt


def _label(name: str, value: float, what: str) -> str:
    return f"{name} ({what} {value:.3f})" if not math.isnan(value) else f"{name} ({what} n/a)"


def _classes_with_curves(classes: Sequence[str], y: np.ndarray) -> Iterator[Tuple[int, str, int]]:
    """(column, class, positives) for classes with both label values: only they have a curve."""
    for j, cls in enumerate(classes):
        pos = int(y[:, j].sum())
        if pos not in (0, y.shape[0]):
            yield j, cls, pos


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:  # the temporary name keeps .png: matplotlib picks the format from it
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return path


def plot_curves(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str], out_dir: str | Path,
                table: Optional[MetricsTable] = None, title: str = "") -> Optional[List[Path]]:
    """Write ``roc.png`` and ``pr.png`` into ``out_dir``; returns their paths, or None without matplotlib.

    Classes with a single label value (no curve defined) are left out of the figure.
    The PR panel shows each class's prevalence as a dotted line: the no-skill level that
    an AUPRC has to be read against.
    """
    plt = _pyplot()
    if plt is None:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    paths: List[Path] = []

    fig, ax = plt.subplots(figsize=(6, 5.5))
    for j, cls, pos in _classes_with_curves(classes, y):
        fpr, tpr = roc_points(y[:, j], s[:, j])
        auc = table.auroc[j] if table else float("nan")
        ax.plot(fpr, tpr, lw=1.4, label=_label(cls, auc, "AUROC"))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC {title}".strip())
    ax.legend(loc="lower right", fontsize=8)
    paths.append(_save(plt, fig, out / "roc.png"))

    fig, ax = plt.subplots(figsize=(6, 5.5))
    for j, cls, pos in _classes_with_curves(classes, y):
        recall, precision = pr_points(y[:, j], s[:, j])
        ap = table.auprc[j] if table else float("nan")
        (line,) = ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="pre", lw=1.4,
                          label=_label(cls, ap, "AUPRC"))
        ax.axhline(pos / y.shape[0], color=line.get_color(), lw=0.7, ls=":")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01), title=f"Precision-recall {title}".strip())
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    paths.append(_save(plt, fig, out / "pr.png"))
    for p in paths:
        log.info("wrote %s", p)
    return paths
