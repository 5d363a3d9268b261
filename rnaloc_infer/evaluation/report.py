"""Evaluate predicted probabilities against a labels TSV (numpy only).

Why a module of its own: ``rnaloc-train evaluate``, the training loop's report and the
benchmarks all need the same three steps - read the labels, line them up with the
predicted records by id, and compute one per-class table - and they must agree to the
last digit. No torch and no matplotlib here, so the lean runtime can evaluate and the
tests run fast; the metric definitions themselves live in :mod:`rnaloc_infer.evaluation.metrics`.

The labels TSV is the data set's format: a header row with ``id`` and one 0/1 column per
class name (other columns such as ``gene_id`` are ignored).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rnaloc_infer.evaluation import metrics
from rnaloc_infer.errors import InputError, RnalocError

# How many example ids an error message names.
_EXAMPLES = 5


class LabelMatchError(RnalocError):
    """Predicted records and labels do not cover the same ids (one-line message)."""


@dataclass
class Labels:
    """0/1 labels of one TSV: ``y[i, j]`` is record ``ids[i]``, class ``classes[j]``."""

    ids: List[str]
    classes: List[str]
    y: np.ndarray


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


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_EXAMPLES])
    return shown + (", ..." if len(ids) > _EXAMPLES else "")


def read_labels(path: str | Path, classes: Optional[Sequence[str]] = None) -> Labels:
    """Read a labels TSV; ``classes`` picks and orders the columns (default: all but id/gene_*).

    Raises :class:`InputError` naming the file for a missing column, a duplicate id or a
    value other than 0/1, because a silently mis-parsed label column would make every
    figure downstream meaningless.
    """
    path = Path(path)
    source = str(path)
    try:
        fh = open(path, newline="")
    except OSError as exc:
        raise InputError(source, f"cannot read labels: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if not header or "id" not in header:
            raise InputError(source, "labels TSV needs a header row with an 'id' column")
        if classes is None:
            classes = [h for h in header if h not in ("id", "gene_id", "gene_name")]
        missing = [c for c in classes if c not in header]
        if missing:
            raise InputError(source, f"no column for class(es) {', '.join(missing)} (header: {', '.join(header)})")
        id_col = header.index("id")
        cols = [header.index(c) for c in classes]
        ids: List[str] = []
        rows: List[List[int]] = []
        seen: set = set()
        for line_no, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < len(header):
                raise InputError(source, f"line {line_no}: {len(row)} fields, header has {len(header)}")
            rid = row[id_col]
            if rid in seen:
                raise InputError(source, f"line {line_no}: duplicate id {rid!r}")
            seen.add(rid)
            try:
                values = [int(row[c]) for c in cols]
            except ValueError:
                raise InputError(source, f"line {line_no}: labels must be 0 or 1", record=rid) from None
            if any(v not in (0, 1) for v in values):
                raise InputError(source, f"line {line_no}: labels must be 0 or 1", record=rid)
            ids.append(rid)
            rows.append(values)
    y = np.asarray(rows, dtype=np.int8).reshape(len(rows), len(classes))
    return Labels(ids=ids, classes=list(classes), y=y)


def match_labels(pred_ids: Sequence[str], labels: Labels, *, pred_source: str = "predictions",
                 label_source: str = "labels") -> np.ndarray:
    """Return ``labels.y`` reordered to ``pred_ids``; both sides must hold exactly the same ids.

    Why strict both ways: a record without labels cannot be scored, and a labelled record
    without a prediction usually means the wrong FASTA (e.g. train vs valid) - either way
    the figures would describe a different set than the user thinks.
    """
    dup = _duplicates(pred_ids)
    if dup:
        raise LabelMatchError(f"{pred_source}: {len(dup)} duplicate id(s): {_examples(dup)}")
    index = {rid: i for i, rid in enumerate(labels.ids)}
    pred_set = set(pred_ids)
    no_label = [rid for rid in pred_ids if rid not in index]
    no_pred = [rid for rid in labels.ids if rid not in pred_set]
    problems = []
    if no_label:
        problems.append(f"{len(no_label)} id(s) in {pred_source} missing from {label_source}: {_examples(no_label)}")
    if no_pred:
        problems.append(f"{len(no_pred)} id(s) in {label_source} missing from {pred_source}: {_examples(no_pred)}")
    if problems:
        raise LabelMatchError("; ".join(problems))
    return labels.y[[index[rid] for rid in pred_ids]]


def _duplicates(ids: Sequence[str]) -> List[str]:
    seen: set = set()
    dup: List[str] = []
    for rid in ids:
        if rid in seen and rid not in dup:
            dup.append(rid)
        seen.add(rid)
    return dup


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


def tuned_thresholds(y_true: np.ndarray, scores: np.ndarray) -> List[float]:
    """Thresholds chosen by the project's policy (``metrics.policy_threshold``: MCC optimum, or
    prevalence matching for a class with few positives or negatives) on these very labels
    (optimistic: for diagnosis, not for reporting)."""
    return metrics.tune_thresholds(np.asarray(y_true), np.asarray(scores))


def _fmt(value: object, digits: int = 4) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def write_tsv(table: MetricsTable, path: str | Path) -> Path:
    """Write ``metrics.tsv`` (columns :data:`COLUMNS`; empty cell = undefined / not applicable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
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


def roc_points(y_true: np.ndarray, scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    tps, fps = _cum_counts(y, s)
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos]


def pr_points(y_true: np.ndarray, scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct threshold, highest threshold first."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    tps, fps = _cum_counts(y, s)
    n_pos = max(int(y.sum()), 1)
    return tps / n_pos, tps / np.maximum(tps + fps, 1)


def _cum_counts(y: np.ndarray, s: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-s, kind="mergesort")
    ys = y[order]
    last = np.r_[np.flatnonzero(np.diff(s[order])), y.size - 1] if y.size else np.zeros(0, dtype=int)
    tps = np.cumsum(ys)[last].astype(np.float64)
    return tps, (last + 1) - tps
