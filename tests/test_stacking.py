"""Stacked member weights (training/stacking.py): fitted per class on valid, the penalty picked
by out-of-fold log-loss, and out-of-fold AUROCs that show what a blend fitted on valid earns."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.training.stacking import C_GRID, stack_members


def _members(n: int = 600, seed: int = 0):
    """Two classes, three members: member 0 knows class 0, member 1 knows class 1, member 2 is noise."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 2)) < [0.5, 0.1]).astype(int)
    scores = rng.standard_normal((n, 2, 3))
    scores[:, 0, 0] += 1.5 * labels[:, 0]
    scores[:, 1, 1] += 1.5 * labels[:, 1]
    return scores, labels


def test_weights_follow_the_informative_member():
    scores, labels = _members()
    stacked = stack_members(scores, labels)
    assert stacked.c in C_GRID and min(stacked.cv_log_loss.values()) == stacked.cv_log_loss[stacked.c]
    assert stacked.weights[0].argmax() == 0 and stacked.weights[1].argmax() == 1
    assert abs(stacked.weights[0, 2]) < 0.3 * stacked.weights[0, 0]  # noise gets little weight
    # the equal blend dilutes the one informative member with two uninformative ones
    assert np.all(stacked.cv_auroc > stacked.equal_cv_auroc + 0.03)
    assert stacked.cv_log_loss[stacked.c] < stacked.equal_cv_log_loss
    # out of fold, the stacked blend scores about as the informative member alone
    for k in range(2):
        assert stacked.cv_auroc[k] == pytest.approx(roc_auc(labels[:, k], scores[:, k, k]), abs=0.03)
    again = stack_members(scores, labels)  # fixed folds: the same weights every run
    np.testing.assert_array_equal(again.weights, stacked.weights)


def test_pure_noise_gets_no_out_of_fold_gain():
    rng = np.random.default_rng(1)
    labels = (rng.random((500, 1)) < 0.3).astype(int)
    stacked = stack_members(rng.standard_normal((500, 1, 4)), labels)
    assert abs(stacked.cv_auroc[0] - 0.5) < 0.08  # in-sample fitting would flatter it; out of fold it cannot


def test_rare_classes_use_fewer_folds_and_too_rare_ones_are_refused():
    scores, labels = _members(200)
    labels[:, 1] = 0
    labels[:3, 1] = 1  # three positives: three folds
    stacked = stack_members(scores, labels)
    assert np.isfinite(stacked.cv_auroc).all()
    labels[1:3, 1] = 0
    with pytest.raises(ValueError, match="class 1: 1 positive or negative"):
        stack_members(scores, labels)
    with pytest.raises(ValueError, match="^ER: 1 positive or negative valid record.*--blend equal"):
        stack_members(scores, labels, ["Nucleus", "ER"])
