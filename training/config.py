"""Training configuration: one TOML (or JSON) file with ``[model]``, ``[data]``, ``[optim]``, ``[loss]`` tables.

Example::

    seed = 1
    [model]      # any ModelConfig field
    kind = "qrnn"
    hidden = 64
    [data]
    max_len = 8000          # training-time truncation (keeps both ends); 0 = off
    token_budget = 256000   # max_len_in_batch x batch_size
    [optim]
    lr = 2e-3
    epochs = 12
    [loss]
    kind = "bce"
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, List, Optional

from .models import ModelConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib


@dataclass
class DataConfig:
    data_dir: Optional[str] = None  # None: $RNALOC_DATA_DIR or <repo>/../shared/data
    prefix: str = "dm3loc"
    train_split: str = "train"
    valid_split: str = "valid"
    max_len: int = 8000
    token_budget: int = 256_000
    eval_token_budget: int = 512_000
    pool_size: int = 2048


@dataclass
class OptimConfig:
    lr: float = 2e-3
    weight_decay: float = 1e-2
    epochs: int = 10
    warmup_steps: int = 50
    schedule: str = "cosine"  # "cosine" (per step, after warmup) or "constant"
    grad_clip: float = 1.0
    patience: int = 4  # early stopping on valid macro AUROC
    # Classes left out of the model-selection score (early stopping, best.pt). Exosome has 23
    # valid negatives: its AUROC moves by +-0.05 between epochs by chance and drowns the rest.
    select_exclude: List[str] = field(default_factory=list)
    # Keep every epoch's weights as epoch_NNN.pt, so the last few can be averaged afterwards
    # (``rnaloc-train average``): one network at run time, less of the epoch-to-epoch noise.
    snapshots: bool = False
    threads: int = 2  # torch.set_num_threads on CPU


@dataclass
class LossConfig:
    kind: str = "bce"  # "bce" or "focal"
    gamma: float = 2.0
    pos_weight: bool = True
    pos_weight_min: float = 0.5
    pos_weight_max: float = 20.0
    # > 0: add the within-record ranking term (labelled compartments above unlabelled ones in
    # each record, :func:`.losses.within_record_ranking`) with this weight; 0 = BCE alone
    ranking_weight: float = 0.0


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    seed: int = 0
    # word2vec table (``rnaloc-train kmers``) that initialises a k-mer embedding encoder; None: random init
    kmer_vectors: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown config sections/keys: {sorted(unknown)}")
        return cls(
            model=ModelConfig(**_known(ModelConfig, _without_retired(data.get("model", {})), "model")),
            data=DataConfig(**_known(DataConfig, data.get("data", {}), "data")),
            optim=OptimConfig(**_known(OptimConfig, data.get("optim", {}), "optim")),
            loss=LossConfig(**_known(LossConfig, data.get("loss", {}), "loss")),
            seed=int(data.get("seed", 0)),
            kmer_vectors=data.get("kmer_vectors"),
        )


RETIRED_MODEL_KEYS = ("linear_ks", "members", "features")  # ensemble fields, now EnsembleConfig's


def _without_retired(model: dict) -> dict:
    """Drop the ensemble's fields that config.json files of older versions carry (empty for
    training); a non-empty one is an error, since only `rnaloc-train ensemble` builds ensembles."""
    for key in RETIRED_MODEL_KEYS:
        if model.get(key):
            raise ValueError(f"[model] {key} describes an ensemble: train the networks, then `rnaloc-train ensemble`")
    return {k: v for k, v in model.items() if k not in RETIRED_MODEL_KEYS}


def _known(cls: type, values: dict, section: str) -> dict[str, Any]:
    """Reject typos instead of silently training with defaults."""
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown keys in [{section}]: {sorted(unknown)}")
    return dict(values)


def load_config(path: str | Path) -> TrainConfig:
    """Read a ``.toml`` or ``.json`` training config."""
    path = Path(path)
    if path.suffix == ".json":
        data = json.loads(path.read_text())
    else:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    return TrainConfig.from_dict(data)
