"""Per-class member weights of an ensemble, fitted on valid (``rnaloc-train ensemble --blend stacked``).

Why: equal weights treat every member as equally informative for every class, and they are
not. For Exosome (99 % positive) the k-mer/UTR forest alone scores 0.83 on valid while the
equal blend scores 0.74: the networks and the regression, near chance there, dilute it
(docs/RESULTS.md, "Stacked member weights"). Valid already fits the ensemble's calibration;
here it also fits, per class, an L2 logistic regression on the members' train-standardised
scores (stacking), and the regression's coefficients become the members' blend weights.

What keeps it honest: the penalty is picked from a fixed grid by the out-of-fold log-loss
of a repeated stratified k-fold split of valid, and the same split gives **out-of-fold
AUROCs**, what a blend fitted without a record scores on it: the estimate to quote, since
the in-sample valid figures of a blend fitted on valid are optimistic.

Needs scikit-learn (the [train] extra).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from rnaloc_infer.evaluation.metrics import roc_auc

log = logging.getLogger(__name__)

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # inverse L2 strength, in units of standardised member scores
FOLDS = 5
REPEATS = 3


@dataclass
class StackedWeights:
    weights: np.ndarray  # (classes, members): each class's blend weights (before calibration)
    c: float  # the chosen inverse penalty
    cv_log_loss: dict  # {C: out-of-fold log-loss, mean over repeats, records and classes}
    cv_auroc: np.ndarray  # (classes,) out-of-fold AUROC of the chosen C, mean over repeats
    equal_cv_auroc: np.ndarray  # (classes,) the same for equal weights (calibration alone fitted per fold)
    equal_cv_log_loss: float
    cv_probs: np.ndarray  # (repeats, records, classes) held-out calibrated probabilities of the chosen C
    equal_cv_probs: np.ndarray  # the same for equal weights


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c).fit(x, y).coef_[0]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function in its tanh form: no overflow for scores of any size."""
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def platt(score: np.ndarray, labels: np.ndarray, steps: int = 100) -> Tuple[float, float]:
    """(a, b) maximising the likelihood of sigmoid(a * score + b) for one class (Newton's method)."""
    a, b = 1.0, 0.0
    for _ in range(steps):
        p = _sigmoid(a * score + b)
        g = np.array([np.sum((p - labels) * score), np.sum(p - labels)])
        w = p * (1 - p)
        h = np.array([[np.sum(w * score * score), np.sum(w * score)], [np.sum(w * score), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def _log_loss(labels: np.ndarray, p: np.ndarray) -> float:
    """Mean binary log-loss of probabilities ``p`` (records, classes), or (repeats, records,
    classes), against 0/1 ``labels`` (records, classes)."""
    y = labels.astype(np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def _calibrated(score_train: np.ndarray, y_train: np.ndarray, score_test: np.ndarray) -> np.ndarray:
    """Held-out probabilities after Platt scaling on the fold's training part (:func:`platt`, as the
    ensemble calibrates)."""
    a, b = platt(score_train, y_train)
    return np.clip(_sigmoid(a * score_test + b), 1e-12, 1 - 1e-12)


def stack_members(scores: np.ndarray, labels: np.ndarray, classes: Optional[Sequence[str]] = None,
                  grid: Sequence[float] = C_GRID, folds: int = FOLDS, repeats: int = REPEATS) -> StackedWeights:
    """Blend weights from ``scores`` (records, classes, members: each member's train-standardised
    valid scores) and 0/1 ``labels`` (records, classes); module docstring. The out-of-fold
    figures pool the held-out records' calibrated probabilities over the folds; ``classes``
    name the columns in errors."""
    from sklearn.model_selection import StratifiedKFold

    n, n_classes, _ = scores.shape
    minority = np.minimum(labels.sum(axis=0), n - labels.sum(axis=0)).astype(int)
    if minority.min() < 2:
        k = int(minority.argmin())
        raise ValueError(f"{classes[k] if classes else f'class {k}'}: {minority[k]} positive or negative valid "
                         "record(s), too few to fit stacked weights (use --blend equal)")
    oof = {c: np.zeros((repeats, n, n_classes)) for c in grid}
    equal = np.zeros((repeats, n, n_classes))
    for r in range(repeats):
        for k in range(n_classes):
            x, y = scores[:, k], labels[:, k]
            mean = x.mean(axis=1)
            # a class with fewer minority records than folds gets as many folds as it has
            for train, test in StratifiedKFold(min(folds, minority[k]), shuffle=True, random_state=r).split(x, y):
                equal[r, test, k] = _calibrated(mean[train], y[train], mean[test])
                for c in grid:
                    w = _fit(x[train], y[train], c)
                    oof[c][r, test, k] = _calibrated(x[train] @ w, y[train], x[test] @ w)

    def auroc(p: np.ndarray) -> np.ndarray:
        return np.mean([[roc_auc(labels[:, k], p[r, :, k]) for k in range(n_classes)] for r in range(repeats)], axis=0)

    mean_loss = {c: _log_loss(labels, oof[c]) for c in grid}
    best = min(grid, key=lambda c: mean_loss[c])
    weights = np.stack([_fit(scores[:, k], labels[:, k], best) for k in range(n_classes)])
    log.info("stacked blend: C = %g (out-of-fold log-loss %s; equal weights %.5f)", best,
             {c: round(v, 5) for c, v in mean_loss.items()}, _log_loss(labels, equal))
    return StackedWeights(weights, best, mean_loss, auroc(oof[best]), auroc(equal), _log_loss(labels, equal), oof[best], equal)


def members_table(names: List[str], classes: List[str], weights: np.ndarray) -> dict:
    """{class: {member: share of the class's absolute weight}} for reports."""
    share = weights / np.abs(weights).sum(axis=1, keepdims=True)
    return {c: dict(zip(names, np.round(row, 4).tolist())) for c, row in zip(classes, share)}


def member_standardisation(names: Sequence[str], classes: Sequence[str],
                           reference: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """(mean, std), each (members, classes), of every member's ``reference`` scores (records,
    classes): what a member is standardised with before it is blended. A member that scores
    every reference record the same for a class cannot be standardised: one line naming it."""
    mean = np.stack([scores.mean(axis=0) for scores in reference])
    std = np.stack([scores.std(axis=0) for scores in reference])
    for name, s in zip(names, std):
        if not np.all(s > 0):
            flat = [classes[c] for c in np.flatnonzero(~(s > 0))]
            raise ValueError(f"member {name} scores every training record the same for {', '.join(flat)}: "
                             "it cannot be standardised (a forest without splits?)")
    return mean, std


def standardise(scores: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(records, classes, members): each member's scores in units of its reference statistics."""
    return np.stack([(v - m) / s for v, m, s in zip(scores, mean, std)], axis=2)


MIXING_GRID = (0.01, 0.1, 1.0)  # inverse L2 strength of the class-mixing regressions, on log-odds


@dataclass
class ClassMixingFit:
    """Per output class, an L2 logistic regression on every class's calibrated blend log-odds
    (:class:`.ensemble_model.ClassMixing` in the graph). Why: out of fold, the blend scores of
    the other classes carry information on a class's annotation (docs/RESULTS.md, "Class
    mixing"); the penalty is chosen like the stacked weights', by inner out-of-fold log-loss."""

    weight: np.ndarray  # (classes out, classes in)
    bias: np.ndarray  # (classes,)
    c: float
    cv_log_loss: dict  # {C: inner out-of-fold log-loss, mean over records and classes}

    def apply(self, log_odds: np.ndarray) -> np.ndarray:
        return log_odds @ self.weight.T + self.bias


def fit_class_mixing(log_odds: np.ndarray, labels: np.ndarray, grid: Sequence[float] = MIXING_GRID,
                     folds: int = FOLDS, seed: int = 0) -> ClassMixingFit:
    """:class:`ClassMixingFit` of ``log_odds`` (records, classes: calibrated blend log-odds) and
    0/1 ``labels``; C from ``grid`` by the log-loss of a stratified ``folds``-fold split per
    class (a class with fewer minority records than folds gets as many folds as it has)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    n, n_classes = labels.shape
    minority = np.minimum(labels.sum(axis=0), n - labels.sum(axis=0)).astype(int)
    if minority.min() < 2:
        raise ValueError(f"class {int(minority.argmin())}: too few positive or negative records to fit class mixing")
    held = {c: np.zeros(labels.shape) for c in grid}
    for k in range(n_classes):
        y = labels[:, k]
        for train, test in StratifiedKFold(min(folds, minority[k]), shuffle=True, random_state=seed).split(log_odds, y):
            for c in grid:
                model = LogisticRegression(C=c, max_iter=2000).fit(log_odds[train], y[train])
                held[c][test, k] = np.clip(model.predict_proba(log_odds[test])[:, 1], 1e-12, 1 - 1e-12)
    loss = {c: _log_loss(labels, p) for c, p in held.items()}
    best = min(grid, key=lambda c: loss[c])
    fitted = [LogisticRegression(C=best, max_iter=2000).fit(log_odds, labels[:, k]) for k in range(n_classes)]
    log.info("class mixing: C = %g (inner out-of-fold log-loss %s)", best, {c: round(v, 5) for c, v in loss.items()})
    return ClassMixingFit(np.stack([m.coef_[0] for m in fitted]), np.array([m.intercept_[0] for m in fitted]), best, loss)


@dataclass
class BlendFit:
    """Per-class blend of standardised member scores, Platt calibration, optionally a class
    mixing, and thresholds, as ``rnaloc-train ensemble`` fits them on valid and
    ``crossfit-blend`` on out-of-fold scores."""

    weights: np.ndarray  # (classes, members) on standardised scores, before calibration
    a: np.ndarray  # (classes,) Platt slope
    b: np.ndarray  # (classes,) Platt intercept
    thresholds: List[float]  # per class, evaluation.metrics.policy_threshold on the fitted records
    stacked: Optional[StackedWeights]  # None for equal weights
    mixing: Optional[ClassMixingFit] = None

    def score(self, standardised: np.ndarray) -> np.ndarray:
        """(records, classes) blend scores before calibration."""
        return (standardised * self.weights[None]).sum(axis=2)

    def log_odds(self, standardised: np.ndarray) -> np.ndarray:
        """(records, classes) the model's output log-odds: calibrated blend, then the mixing."""
        calibrated = self.a * self.score(standardised) + self.b
        return calibrated if self.mixing is None else self.mixing.apply(calibrated)

    def probabilities(self, standardised: np.ndarray) -> np.ndarray:
        return _sigmoid(self.log_odds(standardised))


def fit_blend(standardised: np.ndarray, labels: np.ndarray, classes: Sequence[str], blend: str = "stacked",
              grid: Sequence[float] = C_GRID, class_mixing: bool = False) -> BlendFit:
    """Weights (stacked: :func:`stack_members`; equal: 1/members), then per class Platt scaling
    of the blend score, with ``class_mixing`` the mixing of the calibrated log-odds
    (:func:`fit_class_mixing`), and the policy thresholds of the final probabilities, all on
    the records given (``standardised``: records, classes, members)."""
    from rnaloc_infer.evaluation import metrics

    n_members = standardised.shape[2]
    stacked = stack_members(standardised, labels, classes, grid) if blend == "stacked" else None
    weights = stacked.weights if stacked else np.full((len(classes), n_members), 1.0 / n_members)
    fit = BlendFit(weights, np.zeros(len(classes)), np.zeros(len(classes)), [], stacked)
    score = fit.score(standardised)
    for c in range(len(classes)):
        fit.a[c], fit.b[c] = platt(score[:, c], labels[:, c])
    if class_mixing:
        fit.mixing = fit_class_mixing(fit.log_odds(standardised), labels)
    fit.thresholds = [float(t) for t in metrics.tune_thresholds(labels, fit.probabilities(standardised))]
    return fit
