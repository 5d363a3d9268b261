"""The k-mer (and coding) logistic regression: fitted here, saved as plain arrays, blended in.

Why it is part of training: the shipped default is an ensemble whose regression member is
this model (docs/MODEL_CARD.md); ``rnaloc-train regression`` fits and saves it, ``rnaloc-train
ensemble`` folds it into the graph (:func:`.ensemble.with_logreg`), and
benchmarks/kmer_baseline.py only measures it (docs/BASELINE.md).

Features: for k = 1..5, counts of every k-mer over A/C/G/T (4 + 16 + 64 + 256 + 1024 =
1364 columns), each k block normalised to sum 1 (frequencies); windows containing N (or
any non-ACGT code) are skipped. Optionally (``coding``) the encoded protein's features
(:mod:`rnaloc_infer.features.coding`) follow.

Classifier: one-vs-rest ``LogisticRegression`` per class (lbfgs, ``class_weight="balanced"``)
on standardised features. C is chosen from a small grid by macro AUROC on an internal
80/20 split *of train* (seed 0), then refit on all of train; the validation set is never
used here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from rnaloc_infer.features.registry import CODING
from rnaloc_infer.features.coding import N_FEATURES, coding_feature_matrix
from rnaloc_infer.output.npz_json import check_format, load_npz, require, save_npz

from .data import SequenceSet

log = logging.getLogger(__name__)

KS = (1, 2, 3, 4, 5)
C_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 1e-2)
LOGREG_FORMAT = "rnaloc-kmer-logreg"


def kmer_frequencies(codes: np.ndarray, ks: Sequence[int] = KS) -> np.ndarray:
    """Concatenated per-k k-mer frequencies of one encoded sequence (A=0 C=1 G=2 T=3).

    A window is counted only if all its codes are < 4, so N never leaks into a k-mer.
    A k block whose sequence has no valid window stays all zeros.
    """
    codes = codes.astype(np.int64)
    valid = codes < 4
    # bad_cum[i] = number of invalid codes in codes[:i]
    bad_cum = np.concatenate(([0], np.cumsum(~valid)))
    clean = np.where(valid, codes, 0)
    blocks: List[np.ndarray] = []
    for k in ks:
        n_win = codes.size - k + 1
        if n_win <= 0:
            blocks.append(np.zeros(4**k))
            continue
        idx = np.zeros(n_win, dtype=np.int64)
        for j in range(k):
            idx = idx * 4 + clean[j : j + n_win]
        ok = (bad_cum[k : k + n_win] - bad_cum[:n_win]) == 0
        counts = np.bincount(idx[ok], minlength=4**k).astype(np.float64)
        total = counts.sum()
        blocks.append(counts / total if total else counts)
    return np.concatenate(blocks)


def feature_matrix(codes: Sequence[np.ndarray], ks: Sequence[int] = KS, coding: bool = False) -> np.ndarray:
    """(records, columns): k-mer frequencies, then (``coding``) the encoded protein's features."""
    x = np.stack([kmer_frequencies(c, ks) for c in codes])
    return np.hstack([x, coding_feature_matrix(codes).astype(np.float64)]) if coding else x


def fit_ovr(x: np.ndarray, y: np.ndarray, c: float) -> list:
    """One balanced logistic regression per class (x already standardised)."""
    from sklearn.linear_model import LogisticRegression

    models = []
    for j in range(y.shape[1]):
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        clf.fit(x, y[:, j])
        models.append(clf)
    return models


def score_ovr(models: Sequence, x: np.ndarray) -> np.ndarray:
    """Decision scores [n, classes] (monotone in the probability, enough for AUROC/AUPRC)."""
    return np.column_stack([m.decision_function(x) for m in models])


def macro_auroc(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(np.mean([roc_auc_score(y[:, j], scores[:, j]) for j in range(y.shape[1])]))


def tune_c(x: np.ndarray, y: np.ndarray, seed: int = 0, grid: Sequence[float] = C_GRID) -> Tuple[float, Dict[float, float]]:
    """Pick C by macro AUROC on an 80/20 split of the training set only."""
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    cut = int(0.8 * len(x))
    fit_i, hold_i = perm[:cut], perm[cut:]
    scaler = StandardScaler().fit(x[fit_i])
    xf, xh = scaler.transform(x[fit_i]), scaler.transform(x[hold_i])
    results: Dict[float, float] = {}
    for c in grid:
        results[c] = macro_auroc(y[hold_i], score_ovr(fit_ovr(xf, y[fit_i], c), xh))
        log.info("C=%g inner-holdout macro AUROC %.4f", c, results[c])
    best = max(results, key=results.get)
    return best, results


@dataclass
class FittedRegression:
    """Plain arrays: ``score = coef . (x - mean) / scale + intercept`` per class, x = :func:`feature_matrix`."""

    coef: np.ndarray  # (classes, columns)
    intercept: np.ndarray  # (classes,)
    mean: np.ndarray  # (columns,)
    scale: np.ndarray  # (columns,)
    ks: List[int]
    classes: List[str]
    C: float
    features: str = ""  # "" or the coding feature set after the k-mer blocks

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Decision scores [n, classes] of feature rows ``x``."""
        return ((x - self.mean) / self.scale) @ self.coef.T + self.intercept

    def save(self, path: str | Path) -> Path:
        """Write as .npz loadable with allow_pickle=False, atomically (:mod:`rnaloc_infer.output.npz_json`)."""
        header = {"format": LOGREG_FORMAT, "format_version": 1, "ks": list(self.ks), "classes": list(self.classes),
                  "C": self.C, "features": self.features}
        return save_npz(path, {"coef": self.coef, "intercept": self.intercept, "mean": self.mean, "scale": self.scale},
                        header)


def fit_regression(train: SequenceSet, *, ks: Sequence[int] = KS, coding: bool = False, c: Optional[float] = None,
                   x: Optional[np.ndarray] = None) -> FittedRegression:
    """Fit on the train split only; C from :func:`tune_c` unless given. ``x``: precomputed
    :func:`feature_matrix` of ``train`` (the benchmark reuses it)."""
    from sklearn.preprocessing import StandardScaler

    x = feature_matrix(train.codes, ks, coding) if x is None else x
    y = train.labels.astype(np.int64)
    if c is None:
        c, grid = tune_c(x, y)
        log.info("chosen C=%g (grid %s)", c, grid)
    scaler = StandardScaler().fit(x)
    models = fit_ovr(scaler.transform(x), y, c)
    return FittedRegression(coef=np.vstack([m.coef_[0] for m in models]),
                            intercept=np.array([m.intercept_[0] for m in models]),
                            mean=scaler.mean_, scale=scaler.scale_, ks=list(ks), classes=list(train.classes), C=float(c),
                            features=CODING if coding else "")


def load_logreg(path: str | Path) -> FittedRegression:
    """A regression written by :meth:`FittedRegression.save` (plain arrays only), checked."""
    path = Path(path)
    header, stored = load_npz(path, what="k-mer regression")
    check_format(path, header, LOGREG_FORMAT, (1,))
    require(path, stored, ("coef", "intercept", "mean", "scale"), "k-mer regression")
    arrays = {key: stored[key] for key in ("coef", "intercept", "mean", "scale")}
    features = header.get("features", "")
    if features not in ("", CODING):
        raise ValueError(f"{path}: unknown feature set {features!r} (this version knows {CODING!r})")
    width = sum(4**k for k in header["ks"]) + (N_FEATURES if features else 0)
    if arrays["coef"].shape != (len(header["classes"]), width) or arrays["mean"].shape != (width,):
        raise ValueError(f"{path}: coefficient shape {arrays['coef'].shape} does not match ks {header['ks']}")
    return FittedRegression(**arrays, ks=list(header["ks"]), classes=list(header["classes"]),
                            C=float(header.get("C", 0.0)), features=features)
