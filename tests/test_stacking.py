"""Stacked member weights (training/stacking.py): fitted per class on valid, the penalty picked
by out-of-fold log-loss, and out-of-fold AUROCs that show what a blend fitted on valid earns."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.training.stacking import C_GRID, MIXING_GRID, fit_blend, fit_class_mixing, stack_members


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


def test_class_mixing_reads_a_class_from_the_others():
    """Class 2 is annotated where classes 0 and 1 are both annotated, and no member scores it
    itself: the per-class blend is near chance for it, the class mixing recovers it from the
    other classes' log-odds; judged on records neither was fitted on."""
    rng = np.random.default_rng(3)
    n = 1200
    labels = (rng.random((n, 3)) < [0.5, 0.5, 0.0]).astype(int)
    labels[:, 2] = labels[:, 0] & labels[:, 1]
    scores = rng.standard_normal((n, 3, 2))
    scores[:, 0, 0] += 2.0 * labels[:, 0]
    scores[:, 1, 1] += 2.0 * labels[:, 1]
    fit, held = slice(0, 800), slice(800, None)
    plain = fit_blend(scores[fit], labels[fit], ["a", "b", "c"])
    mixed = fit_blend(scores[fit], labels[fit], ["a", "b", "c"], class_mixing=True)
    assert plain.mixing is None and mixed.mixing.c in MIXING_GRID
    assert mixed.mixing.weight.shape == (3, 3) and mixed.mixing.bias.shape == (3,)
    assert mixed.mixing.weight[2, 0] > 0.3 and mixed.mixing.weight[2, 1] > 0.3  # c reads a and b
    before = roc_auc(labels[held, 2], plain.log_odds(scores[held])[:, 2])
    after = roc_auc(labels[held, 2], mixed.log_odds(scores[held])[:, 2])
    assert before < 0.6 and after > 0.8
    # the mixing is applied after the calibrated blend: log-odds @ weight.T + bias
    calibrated = mixed.a * mixed.score(scores[held]) + mixed.b
    np.testing.assert_allclose(mixed.log_odds(scores[held]), calibrated @ mixed.mixing.weight.T + mixed.mixing.bias)
    np.testing.assert_allclose(mixed.probabilities(scores[held]), 1 / (1 + np.exp(-mixed.log_odds(scores[held]))))


def test_class_mixing_refuses_a_class_without_negatives():
    labels = np.ones((50, 2), dtype=int)
    labels[:25, 0] = 0
    with pytest.raises(ValueError, match="class 1: too few"):
        fit_class_mixing(np.random.default_rng(0).standard_normal((50, 2)), labels)
