"""Checkpoints that are safe to load: plain tensors, numbers, strings, lists and dicts only.

Saved with ``torch.save`` and always read back with ``weights_only=True``, so a checkpoint
from an untrusted source cannot run code when it is opened.

Layout::

    {"format": 1, "config": ModelConfig.to_dict() or EnsembleConfig.to_dict(), "state_dict": {...},
     "thresholds": [float per class], "train_data_sha256": str,
     "metrics": {str: float}, "epoch": int,
     "optimizer": {...} (optional, for resuming)}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from rnaloc_infer.output.files import atomic_path

from .ensemble_model import EnsembleConfig, EnsembleModel, upgrade_state_dict
from .models import LocalizationModel, ModelConfig, StreamingModel

FORMAT = 1


def model_from_config(config: dict) -> StreamingModel:
    """The (untrained) network or ensemble a serialised config describes."""
    if EnsembleConfig.describes(config):
        return EnsembleModel(EnsembleConfig.from_dict(config))
    return LocalizationModel(ModelConfig.from_dict(config))


def save_checkpoint(
    path: str | Path,
    model: StreamingModel,
    thresholds: Optional[Sequence[float]] = None,
    train_data_sha256: str = "",
    metrics: Optional[dict] = None,
    epoch: int = 0,
    optimizer: Optional[torch.optim.Optimizer] = None,
    extra: Optional[dict] = None,
) -> None:
    """Write atomically (temporary file, then rename) so an interrupted save never corrupts."""
    n_classes = len(model.config.classes)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": model.state_dict(),
        "thresholds": [float(t) for t in (thresholds if thresholds is not None else [0.5] * n_classes)],
        "train_data_sha256": train_data_sha256,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "epoch": int(epoch),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if extra:
        payload["extra"] = extra
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[StreamingModel, dict]:
    """Return (model in eval mode, raw payload). Raises ValueError with a clear message on bad files.

    Ensembles written before :mod:`.ensemble_model` existed load too (their keys are mapped)."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, foreign objects
        raise ValueError(f"{path}: not a readable rnaloc-infer checkpoint ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise ValueError(f"{path}: not an rnaloc-infer checkpoint (missing format/state_dict)")
    model = model_from_config(payload["config"])
    state = payload["state_dict"]
    model.load_state_dict(upgrade_state_dict(state) if isinstance(model, EnsembleModel) else state)
    model.eval()
    return model, payload
