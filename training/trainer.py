"""Training loop: epochs of token-budget batches, validation, early stopping, resumable checkpoints.

Files written under the output directory:

* ``config.json`` — the resolved configuration;
* ``log.jsonl`` — one JSON object per epoch (train loss, valid per-class AUROC/AUPRC,
  macro AUROC, epoch seconds, train nt/s);
* ``last.pt`` — model + optimizer + epoch + RNG state, for ``--resume``;
* ``best.pt`` — the epoch with the best valid macro AUROC, with per-class thresholds
  tuned on the valid split (max MCC). Both use :mod:`.checkpoint` (``weights_only`` safe).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from rnaloc_infer.evaluation import metrics
from rnaloc_infer.features.coding import coding_feature_matrix
from rnaloc_infer.output.files import atomic_write_text
from rnaloc_infer.modelfile.digest import files_sha256

from .checkpoint import load_checkpoint, save_checkpoint
from .config import OptimConfig, TrainConfig
from .data import (
    SequenceSet,
    effective_lengths,
    iterate_batches,
    read_split,
    require_splits,
    resolve_data_dir,
    split_paths,
    token_budget_batches,
)
from .kmer_vectors import KmerVectors, embedding_init
from .losses import make_loss, positive_weights
from .models import LocalizationModel, StreamingModel, count_parameters

log = logging.getLogger(__name__)


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when available (or requested), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def predict_logits(
    model: StreamingModel, data: SequenceSet, token_budget: int, device: torch.device,
    features: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Logits (N, C) for whole (never truncated) sequences, in record order.

    ``features``: the records' per-record features if already computed (a model that takes
    them computes them from the records otherwise).
    """
    model.eval()
    out = np.zeros((len(data), len(model.config.classes)), dtype=np.float32)
    batches = token_budget_batches(data.lengths, token_budget, rng=None)
    for index, tokens, lengths, _ in iterate_batches(data, batches, max_len=None):
        rows = None if features is None else torch.from_numpy(features[index]).to(device)
        logits = model.predict_logits(torch.from_numpy(tokens).to(device), torch.from_numpy(lengths).to(device), rows)
        out[index] = logits.float().cpu().numpy()
    return out


def predict_probs(
    model: StreamingModel, data: SequenceSet, token_budget: int, device: torch.device,
    features: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Sigmoid probabilities (N, C) for whole (never truncated) sequences, in record order."""
    logits = predict_logits(model, data, token_budget, device, features)
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)


def _lr_at(step: int, steps_total: int, cfg: OptimConfig) -> float:
    """Linear warmup then cosine decay to 5 % of the peak (or constant)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant" or steps_total <= cfg.warmup_steps:
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, steps_total - cfg.warmup_steps))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def load_kmer_vectors(model: LocalizationModel, path: str) -> None:
    """Initialise the model's k-mer embedding from a word2vec artefact (k and dim must match)."""
    if model.kmer is None:
        raise ValueError(f"kmer_vectors = {path!r} needs a k-mer encoder ([model] kmer_k > 0)")
    if not Path(path).is_file():
        raise ValueError(f"kmer vectors {path!r} not found; make them with "
                         f"`rnaloc-train kmers --k {model.kmer.k} --dim {model.kmer.dim} --out {path}`")
    table = KmerVectors.load(path)
    if (table.k, table.dim) != (model.kmer.k, model.kmer.dim):
        raise ValueError(f"{path}: k = {table.k}, dim = {table.dim}, but the model has "
                         f"kmer_k = {model.kmer.k}, kmer_dim = {model.kmer.dim}")
    with torch.no_grad():
        model.kmer.table.weight.copy_(torch.from_numpy(embedding_init(table)))
    log.info("k-mer embedding initialised from %s (%d of %d rows present)", path, int(table.present.sum()), table.present.size)


def set_feature_scaling(model: LocalizationModel, features: np.ndarray) -> None:
    """Store the train split's per-feature mean and scale (1 where constant) for the head's input."""
    scale = features.std(axis=0)
    with torch.no_grad():
        model.feature_mean.copy_(torch.from_numpy(features.mean(axis=0)))
        model.feature_scale.copy_(torch.from_numpy(np.where(scale > 1e-6, scale, 1.0)))


def flat_metrics(result: dict) -> Dict[str, float]:
    """``metrics.evaluate`` output as the flat name -> value mapping stored in checkpoints."""
    flat = {key: result[key] for key in ("macro_auroc", "macro_auprc", "macro_mcc")}
    for key in ("auroc", "auprc", "mcc"):
        flat.update({f"{key}_{c}": v for c, v in zip(result["classes"], result[key])})
    return flat


def selection_score(result: dict, exclude: Sequence[str] = ()) -> float:
    """Mean valid AUROC over the classes not in ``exclude`` (nan classes skipped)."""
    values = [v for c, v in zip(result["classes"], result["auroc"]) if c not in exclude and not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


@dataclass
class FitResult:
    out_dir: Path
    best_epoch: int
    best_macro_auroc: float
    epochs_run: int


class Trainer:
    """Owns model, optimizer, data and the run directory for one training run."""

    progress_every_s = 120.0  # log line cadence when the progress bar is off

    def __init__(
        self,
        config: TrainConfig,
        out_dir: str | Path,
        device: str = "auto",
        quiet: bool = False,
        train: Optional[SequenceSet] = None,
        valid: Optional[SequenceSet] = None,
        train_sha256: Optional[str] = None,
        stop_after: Optional[int] = None,
    ):
        """``stop_after``: train exactly this many epochs of the config's schedule (the learning
        rate follows ``optim.epochs``, as in the runs whose length it copies) with no validation:
        no early stopping, no ``best.pt``, ``valid`` unused. The refit of a cross-fitted member on
        every labelled record (:mod:`.crossfit_refit`), where no record is left to stop on."""
        if stop_after is not None and not 1 <= stop_after <= config.optim.epochs:
            raise ValueError(f"stop after {stop_after} epochs: must be 1..optim.epochs ({config.optim.epochs})")
        self.stop_after = stop_after
        self.config = config
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.device = pick_device(device)
        self.quiet = quiet
        if self.device.type == "cpu" and config.optim.threads > 0:
            torch.set_num_threads(config.optim.threads)
        torch.manual_seed(config.seed)
        if train is None or (valid is None and stop_after is None):
            train, valid, train_sha256 = self._load_data()
        self.train_set, self.valid_set = train, valid
        self.train_sha256 = train_sha256 or ""
        self.model = LocalizationModel(config.model)
        if config.kmer_vectors:
            load_kmer_vectors(self.model, config.kmer_vectors)
        self.model.to(self.device)
        pw = (
            positive_weights(train.labels, config.loss.pos_weight_min, config.loss.pos_weight_max)
            if config.loss.pos_weight
            else None
        )
        log.info("pos_weight per class: %s", None if pw is None else dict(zip(config.model.classes, pw.round(2).tolist())))
        self.loss_fn = make_loss(config.loss.kind, pw, config.loss.gamma, config.loss.ranking_weight).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
        )
        self.epoch = 0
        self.step = 0
        self.resumed = False  # a fresh run starts log.jsonl anew (a forced rerun must not append to the old one)
        self.best_auroc = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.train_lengths = effective_lengths(train.lengths, config.data.max_len)
        # per-record features of the whole records (training truncates the tokens)
        self.train_features: Optional[np.ndarray] = None
        self.valid_features: Optional[np.ndarray] = None
        if self.model.n_features:
            self.train_features = coding_feature_matrix(train.codes)
            if valid is not None:
                self.valid_features = coding_feature_matrix(valid.codes)  # once, not every epoch
            if self.model.n_head_features:
                set_feature_scaling(self.model, self.train_features)

    # ---------------------------------------------------------------- data
    def _load_data(self) -> tuple[SequenceSet, SequenceSet, str]:
        cfg = self.config.data
        data_dir, source = resolve_data_dir(cfg.data_dir, "the config's data.data_dir")
        require_splits(data_dir, source, (cfg.train_split, cfg.valid_split), cfg.prefix)
        # the run records the directory it read (config.json, checkpoints): export finds it there
        cfg = self.config.data = replace(cfg, data_dir=str(data_dir))
        classes = self.config.model.classes
        train_files = split_paths(data_dir, cfg.train_split, cfg.prefix)
        valid_files = split_paths(data_dir, cfg.valid_split, cfg.prefix)
        train = read_split(*train_files, classes)
        valid = read_split(*valid_files, classes)
        return train, valid, files_sha256(train_files)

    # ---------------------------------------------------------- checkpoint
    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"

    def snapshot_path(self, epoch: int) -> Path:
        return self.out_dir / f"epoch_{epoch:03d}.pt"

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    def _save_last(self) -> None:
        extra = {
            "step": self.step,
            "best_auroc": float(self.best_auroc),
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "torch_rng": torch.get_rng_state(),
            "train_config": self.config.to_dict(),
        }
        save_checkpoint(
            self.last_path, self.model, train_data_sha256=self.train_sha256, epoch=self.epoch,
            optimizer=self.optimizer, extra=extra,
        )

    def resume(self) -> bool:
        """Restore model, optimizer, epoch counter and RNG from ``last.pt``; False when absent."""
        if not self.last_path.exists():
            log.warning("no %s to resume from; starting fresh", self.last_path)
            return False
        model, payload = load_checkpoint(self.last_path, map_location=self.device)
        self.model.load_state_dict(model.state_dict())
        if "optimizer" in payload:
            self.optimizer.load_state_dict(payload["optimizer"])
        extra = payload.get("extra", {})
        self.epoch = int(payload.get("epoch", 0))
        self.step = int(extra.get("step", 0))
        self.best_auroc = float(extra.get("best_auroc", -math.inf))
        self.best_epoch = int(extra.get("best_epoch", 0))
        self.bad_epochs = int(extra.get("bad_epochs", 0))
        if "torch_rng" in extra:
            torch.set_rng_state(extra["torch_rng"].cpu())
        log.info("resumed from %s at epoch %d (best macro AUROC %.4f)", self.last_path, self.epoch, self.best_auroc)
        self.resumed = True
        return True

    # ------------------------------------------------------------- epochs
    def _epoch_batches(self) -> List[np.ndarray]:
        rng = np.random.default_rng([self.config.seed, self.epoch])  # reproducible per epoch, no state to save
        return token_budget_batches(self.train_lengths, self.config.data.token_budget, rng, self.config.data.pool_size)

    def train_epoch(self) -> Dict[str, float]:
        cfg = self.config
        self.model.train()
        batches = self._epoch_batches()
        steps_total = len(batches) * cfg.optim.epochs
        total_nt = int(sum(self.train_lengths[b].sum() for b in batches))
        show = not self.quiet and sys.stderr.isatty()
        bar = tqdm(total=total_nt, unit="nt", unit_scale=True, disable=not show, file=sys.stderr,
                   desc=f"epoch {self.epoch + 1}", leave=False)
        loss_sum, n_seen, nt_seen = 0.0, 0, 0
        start = last_report = time.perf_counter()
        for index, tokens, lengths, labels in iterate_batches(self.train_set, batches, cfg.data.max_len):
            lr = _lr_at(self.step, steps_total, cfg.optim)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            tokens_t = torch.from_numpy(tokens).to(self.device, non_blocking=True)
            lengths_t = torch.from_numpy(lengths).to(self.device, non_blocking=True)
            labels_t = torch.from_numpy(labels).to(self.device, non_blocking=True)
            features = None
            if self.train_features is not None:
                features = torch.from_numpy(self.train_features[index]).to(self.device)
            logits = self.model.predict_logits(tokens_t, lengths_t, features)
            loss = self.loss_fn(logits, labels_t)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
            self.optimizer.step()
            self.step += 1
            batch_nt = int(lengths.sum())
            loss_sum += float(loss.detach()) * len(lengths)
            n_seen += len(lengths)
            nt_seen += batch_nt
            bar.update(batch_nt)
            bar.set_postfix(loss=f"{loss_sum / n_seen:.4f}", lr=f"{lr:.2e}")
            now = time.perf_counter()
            if not show and now - last_report >= self.progress_every_s:  # logs stand in for the bar
                last_report = now
                log.info("epoch %d: %.0f%% of %d nt, %.0f nt/s, loss %.4f", self.epoch + 1,
                         100.0 * nt_seen / max(1, total_nt), total_nt, nt_seen / (now - start), loss_sum / n_seen)
        bar.close()
        seconds = time.perf_counter() - start
        return {"train_loss": loss_sum / max(1, n_seen), "train_seconds": seconds,
                "train_nt": nt_seen, "train_nt_per_s": nt_seen / max(seconds, 1e-9), "lr": lr if batches else 0.0}

    def validate(self) -> tuple[dict, np.ndarray]:
        start = time.perf_counter()
        probs = predict_probs(self.model, self.valid_set, self.config.data.eval_token_budget, self.device,
                              self.valid_features)
        thresholds = metrics.tune_thresholds(self.valid_set.labels, probs)
        result = metrics.evaluate(self.valid_set.labels, probs, self.config.model.classes, thresholds)
        result["valid_seconds"] = time.perf_counter() - start
        return result, probs

    def fit(self, on_epoch: Optional[Callable[[dict], None]] = None) -> FitResult:
        """Train until ``optim.epochs`` or early stopping; returns where the best model is."""
        cfg = self.config
        atomic_write_text(self.out_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))
        log.info("model %s: %d parameters, device %s, %d train / %d valid records",
                 cfg.model.kind, count_parameters(self.model), self.device, len(self.train_set),
                 0 if self.valid_set is None else len(self.valid_set))
        epochs_run = 0
        log_mode = "a" if self.resumed else "w"
        if self.stop_after is not None:
            return self._fit_fixed(log_mode, on_epoch)
        while self.epoch < cfg.optim.epochs and self.bad_epochs < cfg.optim.patience:
            epoch_start = time.perf_counter()
            train_stats = self.train_epoch()
            result, _ = self.validate()
            self.epoch += 1
            epochs_run += 1
            macro = result["macro_auroc"]
            score = selection_score(result, cfg.optim.select_exclude)
            improved = not math.isnan(score) and score > self.best_auroc
            if improved:
                self.best_auroc, self.best_epoch, self.bad_epochs = score, self.epoch, 0
                flat = flat_metrics(result)
                save_checkpoint(self.best_path, self.model, thresholds=result["thresholds"],
                                train_data_sha256=self.train_sha256, metrics=flat, epoch=self.epoch,
                                extra={"train_config": cfg.to_dict()})
            else:
                self.bad_epochs += 1
            if cfg.optim.snapshots:
                save_checkpoint(self.snapshot_path(self.epoch), self.model, thresholds=result["thresholds"],
                                train_data_sha256=self.train_sha256, metrics=flat_metrics(result), epoch=self.epoch,
                                extra={"train_config": cfg.to_dict()})
            self._save_last()
            record = {"epoch": self.epoch, **train_stats,
                      "epoch_seconds": time.perf_counter() - epoch_start,
                      "valid_seconds": result["valid_seconds"],
                      "selection_score": score, "macro_auroc": macro, "macro_auprc": result["macro_auprc"], "macro_mcc": result["macro_mcc"],
                      "auroc": dict(zip(result["classes"], result["auroc"])),
                      "auprc": dict(zip(result["classes"], result["auprc"])),
                      "mcc": dict(zip(result["classes"], result["mcc"])),
                      "thresholds": dict(zip(result["classes"], result["thresholds"])),
                      "best": improved}
            with open(self.out_dir / "log.jsonl", log_mode) as handle:  # one line per epoch, appended
                handle.write(json.dumps(record) + "\n")
            log_mode = "a"
            log.info("epoch %d: loss %.4f, valid macro AUROC %.4f, selection %.4f (best %.4f @ %d), %.0f s, %.0f nt/s",
                     self.epoch, train_stats["train_loss"], macro, score, self.best_auroc, self.best_epoch,
                     record["epoch_seconds"], train_stats["train_nt_per_s"])
            if on_epoch is not None:
                on_epoch(record)
        if self.bad_epochs >= cfg.optim.patience:
            log.info("early stop: no selection-score gain for %d epochs", self.bad_epochs)
        return FitResult(self.out_dir, self.best_epoch, float(self.best_auroc), epochs_run)

    def _fit_fixed(self, log_mode: str, on_epoch: Optional[Callable[[dict], None]]) -> FitResult:
        """``stop_after`` epochs, no validation (see ``__init__``): ``last.pt`` after each epoch
        (resumable), the final model is ``last.pt`` at epoch ``stop_after``."""
        epochs_run = 0
        while self.epoch < self.stop_after:
            epoch_start = time.perf_counter()
            train_stats = self.train_epoch()
            self.epoch += 1
            epochs_run += 1
            self._save_last()
            record = {"epoch": self.epoch, **train_stats, "epoch_seconds": time.perf_counter() - epoch_start,
                      "stop_after": self.stop_after, "schedule_epochs": self.config.optim.epochs}
            with open(self.out_dir / "log.jsonl", log_mode) as handle:
                handle.write(json.dumps(record) + "\n")
            log_mode = "a"
            log.info("epoch %d of %d (schedule of %d): loss %.4f, %.0f s, %.0f nt/s", self.epoch, self.stop_after,
                     self.config.optim.epochs, train_stats["train_loss"], record["epoch_seconds"],
                     train_stats["train_nt_per_s"])
            if on_epoch is not None:
                on_epoch(record)
        return FitResult(self.out_dir, self.epoch, float("nan"), epochs_run)
