"""Multi-label losses: class-weighted BCE, an optional focal variant, an optional ranking term.

The six classes are imbalanced (ER and Membrane are rare, Nucleus and Cytosol common);
weighting positives by ``neg/pos`` keeps the rare classes from being ignored.

The ranking term (``[loss] ranking_weight``, issue 20): per-class BCE lets a network rank
mRNAs by "how many compartments" (well-studied genes collect many labels) and score all
classes of a record alike; the term asks, inside each record, that every labelled
compartment score above every unlabelled one, which only "which compartment" can satisfy.
BCE stays in the loss, so the per-class probabilities keep their meaning.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def positive_weights(labels: np.ndarray, low: float = 0.5, high: float = 20.0) -> np.ndarray:
    """Per-class ``neg/pos`` from the training labels, clipped to ``[low, high]``.

    The clip keeps a near-empty class from dominating the gradient (and a class with no
    positives from producing inf).
    """
    labels = np.asarray(labels, dtype=np.float64)
    pos = labels.sum(axis=0)
    neg = labels.shape[0] - pos
    ratio = np.where(pos > 0, neg / np.maximum(pos, 1.0), high)
    return np.clip(ratio, low, high).astype(np.float32)


class FocalBCELoss(nn.Module):
    """Binary focal loss ``(1 - p_t)^gamma * BCE`` with optional positive weights.

    Down-weights examples the model already gets right, one way to fight imbalance
    besides ``pos_weight``; ``gamma = 0`` is exactly weighted BCE.
    """

    def __init__(self, gamma: float = 2.0, pos_weight: Optional[Tensor] = None):
        super().__init__()
        self.gamma = gamma
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else None)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=self.pos_weight, reduction="none")
        if self.gamma == 0:
            return bce.mean()
        p = torch.sigmoid(logits)
        p_t = targets * p + (1 - targets) * (1 - p)
        return ((1 - p_t).pow(self.gamma) * bce).mean()


def within_record_ranking(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean of ``softplus(z_k - z_j)`` over every (labelled j, unlabelled k) class pair of
    every record: 0 when each record's labelled classes score far above its unlabelled ones.
    Records with all or no labels contribute no pairs; a batch without pairs gives 0."""
    pairs = targets.unsqueeze(2) * (1.0 - targets.unsqueeze(1))  # [record, j, k] = y_j (1 - y_k)
    margins = logits.unsqueeze(2) - logits.unsqueeze(1)  # z_j - z_k
    return (pairs * F.softplus(-margins)).sum() / pairs.sum().clamp(min=1.0)


class WithRanking(nn.Module):
    """``base(logits, targets) + weight * within_record_ranking(logits, targets)``."""

    def __init__(self, base: nn.Module, weight: float):
        super().__init__()
        self.base = base
        self.weight = weight

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return self.base(logits, targets) + self.weight * within_record_ranking(logits.float(), targets.float())


def make_loss(kind: str, pos_weight: Optional[np.ndarray] = None, gamma: float = 2.0,
              ranking_weight: float = 0.0) -> nn.Module:
    """``"bce"`` (BCEWithLogitsLoss) or ``"focal"``; ``pos_weight`` None means unweighted;
    ``ranking_weight`` > 0 adds :func:`within_record_ranking` with that weight."""
    if ranking_weight < 0:
        raise ValueError(f"ranking_weight must be >= 0, got {ranking_weight}")
    weight = torch.as_tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None
    if kind == "bce":
        base: nn.Module = nn.BCEWithLogitsLoss(pos_weight=weight)
    elif kind == "focal":
        base = FocalBCELoss(gamma, weight)
    else:
        raise ValueError(f"unknown loss {kind!r}; expected 'bce' or 'focal'")
    return WithRanking(base, ranking_weight) if ranking_weight > 0 else base
