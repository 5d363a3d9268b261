"""The within-record ranking term (``[loss] ranking_weight``, issue 20)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnaloc_infer.training.losses import WithRanking, make_loss, within_record_ranking


def _brute_force(logits: np.ndarray, targets: np.ndarray) -> float:
    terms = []
    for z, y in zip(logits, targets):
        for j, k in itertools.product(range(len(y)), repeat=2):
            if y[j] == 1 and y[k] == 0:
                terms.append(np.log1p(np.exp(z[k] - z[j])))
    return float(np.mean(terms)) if terms else 0.0


def test_ranking_matches_the_pairs_written_out():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 6))
    targets = (rng.random((7, 6)) < 0.4).astype(np.float64)
    targets[0] = 1.0  # a record with every label has no pair
    targets[1] = 0.0  # nor one without labels
    got = float(within_record_ranking(torch.from_numpy(logits), torch.from_numpy(targets)))
    assert got == pytest.approx(_brute_force(logits, targets), rel=1e-6)


def test_ranking_rewards_which_not_how_many():
    targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    right = torch.tensor([[5.0, -5.0, 5.0], [-5.0, 5.0, -5.0]])
    # "how many": the first record scores every class high, the second every class low
    how_many = torch.tensor([[5.0, 5.0, 5.0], [-5.0, -5.0, -5.0]])
    assert float(within_record_ranking(right, targets)) < 0.01
    assert float(within_record_ranking(how_many, targets)) == pytest.approx(np.log(2.0), rel=1e-6)
    assert float(within_record_ranking(right, torch.ones(2, 3))) == 0.0


def test_make_loss_adds_the_term_only_when_asked():
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(size=(5, 6))).float()
    targets = torch.from_numpy((rng.random((5, 6)) < 0.5).astype(np.float32))
    weights = np.linspace(0.5, 3.0, 6)
    plain = make_loss("bce", weights)
    assert isinstance(plain, torch.nn.BCEWithLogitsLoss)
    assert not isinstance(make_loss("bce", weights, ranking_weight=0.0), WithRanking)
    ranked = make_loss("bce", weights, ranking_weight=0.7)
    expected = plain(logits, targets) + 0.7 * within_record_ranking(logits, targets)
    assert float(ranked(logits, targets)) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="ranking_weight"):
        make_loss("bce", ranking_weight=-1.0)


def test_config_option_reaches_the_trainer(tiny_trainer):
    trainer = tiny_trainer(extra="[loss]\nranking_weight = 0.5\n")
    assert isinstance(trainer.loss_fn, WithRanking) and trainer.loss_fn.weight == 0.5
    stats = trainer.train_epoch()
    assert np.isfinite(stats["train_loss"])
