"""Multi-label evaluation metrics in plain numpy (the lean runtime evaluates without torch).

Conventions (matching scikit-learn where it defines them):

* A prediction is positive when ``score >= threshold``.
* AUROC and AUPRC (average precision, step-wise, no interpolation) are ``nan`` for a
  class whose labels are all 0 or all 1: they are undefined there, and a ``nan`` is
  skipped by the macro average instead of silently counting as 0 or 1.
* MCC is 0 when its denominator is 0; F1 is 0 when there is no true or predicted positive.
* Thresholds are tuned per class on the validation split by :func:`policy_threshold`: the
  **MCC optimum** where a class has enough positives and negatives (MCC uses all four cells
  of the confusion matrix, so unlike F1 it does not reward predicting everything positive
  for the frequent classes), prevalence matching otherwise (Exosome: 23 valid negatives).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np


def _check(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in size: {y.shape} vs {s.shape}")
    return y, s


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank."""
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return (upper - (counts - 1) / 2.0)[inverse.ravel()]


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney U statistic (ties count one half)."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _desc_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct thresholds (descending) with cumulative TP and FP at ``score >= threshold``.

    The one counting routine behind AUPRC, threshold tuning and the ROC / PR curves.
    """
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    last_of_group = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1] if y.size else np.zeros(0, dtype=np.int64)
    tps = np.cumsum(y_sorted)[last_of_group].astype(np.float64)
    fps = (last_of_group + 1) - tps
    return s_sorted[last_of_group], tps, fps


def roc_points(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0)."""
    y, s = _check(y_true, scores)
    _, tps, fps = _desc_counts(y, s)
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos]


def pr_points(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every distinct threshold, highest threshold first."""
    y, s = _check(y_true, scores)
    _, tps, fps = _desc_counts(y, s)
    n_pos = max(int(y.sum()), 1)
    return tps / n_pos, tps / np.maximum(tps + fps, 1)


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """AUPRC as ``sum_n (R_n - R_{n-1}) P_n`` over distinct thresholds (scikit-learn's definition)."""
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return float("nan")
    _, tps, fps = _desc_counts(y, s)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _mcc_from_counts(tp, fp, fn, tn):
    tp, fp, fn, tn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn, tn))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        mcc = (tp * tn - fp * fn) / denom
    return np.where(denom > 0, mcc, 0.0)


def _confusion(y: np.ndarray, s: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    pred = s >= threshold
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    return tp, fp, fn, y.size - tp - fp - fn


def mcc(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """Matthews correlation of ``score >= threshold`` against the labels."""
    y, s = _check(y_true, scores)
    return float(_mcc_from_counts(*_confusion(y, s, threshold)))


def f1(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """F1 of ``score >= threshold``; 0 when there are neither true nor predicted positives."""
    y, s = _check(y_true, scores)
    tp, fp, fn, _ = _confusion(y, s, threshold)
    return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


def best_mcc_threshold(y_true: np.ndarray, scores: np.ndarray, default: float = 0.5) -> float:
    """Threshold maximising MCC; the midpoint between the chosen score and the next lower one.

    Returns ``default`` for a class with a single label value (MCC is 0 everywhere).
    """
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return float(default)
    thresholds, tps, fps = _desc_counts(y, s)
    n_neg = y.size - n_pos
    values = _mcc_from_counts(tps, fps, n_pos - tps, n_neg - fps)
    best = int(np.argmax(values))
    if best + 1 < thresholds.size:
        return float((thresholds[best] + thresholds[best + 1]) / 2.0)
    return float(thresholds[best])


def prevalence_threshold(y_true: np.ndarray, scores: np.ndarray, default: float = 0.5) -> float:
    """Threshold that labels as many records as carry the label (the top ``n_pos`` scores):
    the midpoint between the ``n_pos``-th highest score and the next one.

    Returns ``default`` for a class with a single label value.
    """
    y, s = _check(y_true, scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return float(default)
    ordered = np.sort(s)[::-1]
    return float((ordered[n_pos - 1] + ordered[n_pos]) / 2.0)


MIN_SIDE_FOR_MCC = 100  # positives and negatives a class needs before its MCC optimum is trusted


def policy_threshold(y_true: np.ndarray, scores: np.ndarray, min_side: int = MIN_SIDE_FOR_MCC) -> float:
    """The project's decision threshold for one class (docs/MODEL_CARD.md, "Thresholds").

    MCC-optimal when the class has at least ``min_side`` positives *and* negatives;
    otherwise prevalence-matching. Why: with few negatives (Exosome: 23 of 2,776 valid
    records) the MCC optimum rests on a handful of records and lands at an extreme (0.991),
    leaving a third of the 99%-prevalent class unlabelled; labelling as many records as
    carry the label cannot miss more positives than there are negatives.
    """
    y, _ = _check(y_true, scores)
    n_pos = int(y.sum())
    if min(n_pos, y.size - n_pos) >= min_side:
        return best_mcc_threshold(y_true, scores)
    return prevalence_threshold(y_true, scores)


def tune_thresholds(y_true: np.ndarray, scores: np.ndarray, min_side: int = MIN_SIDE_FOR_MCC) -> List[float]:
    """Per-class thresholds by :func:`policy_threshold` for (N, C) labels and scores."""
    y = np.asarray(y_true)
    s = np.asarray(scores)
    return [policy_threshold(y[:, c], s[:, c], min_side) for c in range(y.shape[1])]


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.mean(arr[~np.isnan(arr)])) if np.any(~np.isnan(arr)) else float("nan")


def evaluate(
    y_true: np.ndarray,
    scores: np.ndarray,
    classes: Sequence[str],
    thresholds: Optional[Sequence[float]] = None,
) -> Dict[str, object]:
    """Per-class and macro metrics for (N, C) labels and probabilities.

    Returns plain Python data: ``{"classes", "thresholds", "auroc", "auprc", "mcc", "f1"}``
    as per-class lists plus ``macro_auroc``, ``macro_auprc``, ``macro_mcc``, ``macro_f1``
    (nan-skipping means).
    """
    y = np.asarray(y_true)
    s = np.asarray(scores)
    if y.ndim != 2 or y.shape != s.shape or y.shape[1] != len(classes):
        raise ValueError(f"expected (N, {len(classes)}) labels and scores, got {y.shape} and {s.shape}")
    thr = [0.5] * len(classes) if thresholds is None else [float(t) for t in thresholds]
    result: Dict[str, object] = {"classes": list(classes), "thresholds": thr}
    result["auroc"] = [roc_auc(y[:, c], s[:, c]) for c in range(y.shape[1])]
    result["auprc"] = [average_precision(y[:, c], s[:, c]) for c in range(y.shape[1])]
    result["mcc"] = [mcc(y[:, c], s[:, c], thr[c]) for c in range(y.shape[1])]
    result["f1"] = [f1(y[:, c], s[:, c], thr[c]) for c in range(y.shape[1])]
    for key in ("auroc", "auprc", "mcc", "f1"):
        result[f"macro_{key}"] = _nanmean(result[key])  # type: ignore[arg-type]
    return result
