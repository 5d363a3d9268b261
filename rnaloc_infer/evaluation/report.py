"""The per-class metrics table of an evaluation: compute it, write it as TSV, print it.

Why a module of its own: ``rnaloc-train evaluate`` and the model card need one table whose
numbers agree to the last digit with training's (:mod:`rnaloc_infer.evaluation.metrics`
defines them; :mod:`rnaloc_infer.evaluation.labels` reads and matches the labels). No
torch and no matplotlib here, so the lean runtime can evaluate and the tests run fast.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

import numpy as np

from rnaloc_infer.output.files import atomic_output

if TYPE_CHECKING:
    from rnaloc_infer.evaluation.specificity import SpecificityReport

from rnaloc_infer.evaluation import metrics

@dataclass
class MetricsTable:
    """Per-class metrics plus macro means (nan-skipping, as in :func:`metrics.evaluate`)."""

    classes: List[str]
    n: int
    n_pos: List[int]
    thresholds: List[float]
    auroc: List[float]
    auprc: List[float]
    mcc: List[float]
    f1: List[float]
    macro: Dict[str, float] = field(default_factory=dict)
    # Filled by `rnaloc-train evaluate`: does the score tell compartments apart (specificity.py)?
    specificity: Optional["SpecificityReport"] = None
    # the same figures on the relative profile (rnaloc_infer.profile), for a model with its prevalence
    profile_specificity: Optional["SpecificityReport"] = None

    def rows(self) -> List[Dict[str, object]]:
        """One dict per class, then a ``macro`` row (the TSV and the printed table use these)."""
        out: List[Dict[str, object]] = []
        for j, cls in enumerate(self.classes):
            out.append({
                "class": cls, "n": self.n, "n_pos": self.n_pos[j],
                "prevalence": self.n_pos[j] / self.n if self.n else float("nan"),
                "threshold": self.thresholds[j], "auroc": self.auroc[j], "auprc": self.auprc[j],
                "mcc": self.mcc[j], "f1": self.f1[j],
            })
        out.append({
            "class": "macro", "n": self.n, "n_pos": "", "prevalence": float("nan"), "threshold": float("nan"),
            "auroc": self.macro["auroc"], "auprc": self.macro["auprc"],
            "mcc": self.macro["mcc"], "f1": self.macro["f1"],
        })
        return out


COLUMNS = ("class", "n", "n_pos", "prevalence", "threshold", "auroc", "auprc", "mcc", "f1")


def compute_table(y_true: np.ndarray, scores: np.ndarray, classes: Sequence[str],
                  thresholds: Optional[Sequence[float]] = None) -> MetricsTable:
    """Per-class AUROC, AUPRC, and MCC / F1 at ``thresholds`` (0.5 each if None)."""
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    result = metrics.evaluate(y, s, classes, thresholds)
    return MetricsTable(
        classes=list(classes),
        n=int(y.shape[0]),
        n_pos=[int(v) for v in y.sum(axis=0)],
        thresholds=list(result["thresholds"]),  # type: ignore[arg-type]
        auroc=list(result["auroc"]),  # type: ignore[arg-type]
        auprc=list(result["auprc"]),  # type: ignore[arg-type]
        mcc=list(result["mcc"]),  # type: ignore[arg-type]
        f1=list(result["f1"]),  # type: ignore[arg-type]
        macro={k: float(result[f"macro_{k}"]) for k in ("auroc", "auprc", "mcc", "f1")},  # type: ignore[arg-type]
    )


def _fmt(value: object, digits: int = 4) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def write_tsv(table: MetricsTable, path: str | Path) -> Path:
    """Write ``metrics.tsv`` (columns :data:`COLUMNS`; empty cell = undefined / not applicable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in table.rows():
            writer.writerow([_fmt(row[c], 6) for c in COLUMNS])
    return path


def format_table(table: MetricsTable) -> str:
    """Fixed-width text table for the terminal (one line per class plus macro)."""
    header = ["class", "n_pos", "prev", "thr", "AUROC", "AUPRC", "MCC", "F1"]
    lines: List[List[str]] = []
    for row in table.rows():
        lines.append([
            str(row["class"]), str(row["n_pos"]), _fmt(row["prevalence"], 3), _fmt(row["threshold"], 3),
            _fmt(row["auroc"], 4), _fmt(row["auprc"], 4), _fmt(row["mcc"], 4), _fmt(row["f1"], 4),
        ])
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(header)]

    def join(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [join(header), join(["-" * w for w in widths])]
    out += [join(r) for r in lines[:-1]]
    out += [join(["-" * w for w in widths]), join(lines[-1])]
    return "\n".join(out) + f"\n(n = {table.n} records)"
