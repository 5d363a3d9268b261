"""Weight averaging of one run's late epochs (``rnaloc-train average``).

Why: on this data the valid AUROC of consecutive epochs moves by ±0.01 around a plateau
(docs/RESULTS.md), so the best single epoch is partly luck. The mean of the last few
epochs' weights (stochastic weight averaging over the tail of the cosine schedule) is one
network like any other, so it costs nothing at run time, unlike an ensemble of epochs.
The models have no batch norm, so no statistics need recomputing afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
import torch

from rnaloc_infer.evaluation import metrics

from .data import read_split, split_paths
from .models import LocalizationModel
from .trainer import predict_probs


def average_weights(models: Sequence[LocalizationModel]) -> LocalizationModel:
    """A new model whose every floating-point tensor is the mean of ``models``' (same config)."""
    if not models:
        raise ValueError("nothing to average")
    first = models[0]
    for other in models[1:]:
        if other.config != first.config:
            raise ValueError("checkpoints to average must share one architecture (config differs)")
    states = [m.state_dict() for m in models]
    averaged = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            averaged[key] = torch.stack([s[key].float() for s in states]).mean(dim=0).to(value.dtype)
        else:
            averaged[key] = value
    model = LocalizationModel(first.config)
    model.load_state_dict(averaged)
    return model.eval()


def score_on_valid(model: LocalizationModel, data_dir: str | Path, prefix: str = "dm3loc",
                   token_budget: int = 512_000) -> Tuple[list, dict]:
    """(policy thresholds (``metrics.tune_thresholds``), metrics) of ``model`` on the valid split, as training reports them."""
    classes = list(model.config.classes)
    valid = read_split(*split_paths(data_dir, "valid", prefix), classes)
    probs = predict_probs(model, valid, token_budget, torch.device("cpu"))
    thresholds = metrics.tune_thresholds(valid.labels, probs)
    return thresholds, metrics.evaluate(valid.labels, np.asarray(probs), classes, thresholds)
