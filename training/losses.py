"""Multi-label losses: class-weighted BCE and an optional focal variant.

The six classes are imbalanced (ER and Membrane are rare, Nucleus and Cytosol common);
weighting positives by ``neg/pos`` keeps the rare classes from being ignored.
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


def make_loss(kind: str, pos_weight: Optional[np.ndarray] = None, gamma: float = 2.0) -> nn.Module:
    """``"bce"`` (BCEWithLogitsLoss) or ``"focal"``; ``pos_weight`` None means unweighted."""
    weight = torch.as_tensor(pos_weight, dtype=torch.float32) if pos_weight is not None else None
    if kind == "bce":
        return nn.BCEWithLogitsLoss(pos_weight=weight)
    if kind == "focal":
        return FocalBCELoss(gamma, weight)
    raise ValueError(f"unknown loss {kind!r}; expected 'bce' or 'focal'")
