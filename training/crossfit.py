"""Cross-fitting: every member trained on K-1 folds of all labelled records, scoring the fold it never saw.

Why: blend weights, calibration, thresholds and model selection fitted on the same records
that are then reported overstate the result (the released default scored 0.790 on valid and
0.772 held-out). With K folds over train + valid, each of the 13,837 records gets an
out-of-fold score from members that never saw it; everything fitted after the members
(blend, calibration, thresholds) is fitted on those scores, and the figures reported are
out of fold. This is what scikit-learn's ``StackingClassifier`` does with ``cv=K``.

Layout of a cross-fitting directory (resumable: a fold with ``oof.npz`` is done, a fold
with ``last.pt`` continues where it stopped)::

    OUT/folds.tsv                      id, fold (written once; a rerun must agree with it)
    OUT/<member>/fold<k>/best.pt ...   the trainer's own run files
    OUT/<member>/fold<k>/oof.npz       ids, logits of fold k, best epoch

A network's early stopping uses an inner split of its own training part, never the fold
it scores.

The regression and the forest are cross-fitted on the same folds by :mod:`.crossfit_members`
(``rnaloc-train crossfit --member``), and :mod:`.crossfit_blend` (``rnaloc-train
crossfit-blend``) fits the blend on every member's out-of-fold scores.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from rnaloc_infer.output.files import atomic_output, atomic_write_text
from rnaloc_infer.output.npz_json import load_npz, require, save_npz

from .data import SequenceSet, read_split, require_splits, resolve_data_dir, split_paths

log = logging.getLogger(__name__)

FOLDS_FILE = "folds.tsv"
OOF_FILE = "oof.npz"


def read_labelled(data_dir: str | Path, classes: Sequence[str], prefix: str = "dm3loc",
                  splits: Sequence[str] = ("train", "valid")) -> SequenceSet:
    """All labelled records of ``splits`` in one set (train first, then valid, file order)."""
    parts = [read_split(*split_paths(data_dir, split, prefix), classes) for split in splits]
    ids = [i for part in parts for i in part.ids]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{data_dir}: the splits {list(splits)} share record ids")
    return SequenceSet(ids, [c for part in parts for c in part.codes],
                       np.concatenate([part.labels for part in parts]), list(classes))


def subset(data: SequenceSet, index: np.ndarray) -> SequenceSet:
    return SequenceSet([data.ids[i] for i in index], [data.codes[i] for i in index], data.labels[index], data.classes)


def label_set_strata(labels: np.ndarray, min_count: int) -> np.ndarray:
    """One stratum per label set (the 0/1 row read as a bit mask); sets with fewer than
    ``min_count`` records are pooled by their number of labels, so every stratum can be split."""
    bits = (labels > 0.5).astype(np.int64) @ (1 << np.arange(labels.shape[1], dtype=np.int64))
    values, counts = np.unique(bits, return_counts=True)
    strata = np.where(np.isin(bits, values[counts < min_count]), -1 - (labels > 0.5).sum(axis=1), bits)
    values, counts = np.unique(strata, return_counts=True)
    small = values[counts < min_count]  # pools still too small for a split join one rest stratum
    return np.where(np.isin(strata, small), -100, strata) if counts[counts < min_count].sum() >= min_count \
        else np.where(np.isin(strata, small), values[np.argmax(counts)], strata)


def assign_folds(labels: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) per record, stratified on the label sets."""
    from sklearn.model_selection import StratifiedKFold

    folds = np.empty(len(labels), dtype=np.int64)
    strata = label_set_strata(labels, k)
    for fold, (_, test) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(labels, strata)):
        folds[test] = fold
    return folds


def inner_split(labels: np.ndarray, index: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, early-stopping) record indices out of ``index``, stratified on the label sets."""
    from sklearn.model_selection import StratifiedShuffleSplit

    strata = label_set_strata(labels[index], 2)
    splitter = StratifiedShuffleSplit(1, test_size=fraction, random_state=seed)
    train, stop = next(splitter.split(index, strata))
    return np.sort(index[train]), np.sort(index[stop])


def write_folds(path: Path, ids: Sequence[str], folds: np.ndarray) -> None:
    with atomic_output(path) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "fold"])
        writer.writerows(zip(ids, folds.tolist()))


def read_folds(path: Path) -> Dict[str, int]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if not rows or rows[0] != ["id", "fold"]:
        raise ValueError(f"{path}: not a folds file (header 'id<TAB>fold')")
    return {row[0]: int(row[1]) for row in rows[1:]}


def fold_plan(out_dir: Path, data: SequenceSet, k: int, seed: int) -> np.ndarray:
    """The folds of ``out_dir`` (made on first use); a rerun with other data, k or seed is refused."""
    path = out_dir / FOLDS_FILE
    folds = assign_folds(data.labels, k, seed)
    if path.exists():
        stored = read_folds(path)
        if set(stored) != set(data.ids) or any(stored[i] != f for i, f in zip(data.ids, folds.tolist())):
            raise ValueError(f"{path}: the folds stored there differ from --folds {k} --seed {seed} on these "
                             "records; use another --out or the same settings")
        return folds
    out_dir.mkdir(parents=True, exist_ok=True)
    write_folds(path, data.ids, folds)
    log.info("folds: %s records per fold -> %s", np.bincount(folds).tolist(), path)
    return folds


def read_oof(path: Path) -> dict:
    _, npz = load_npz(path, what="cross-fitting logits", header=False)
    require(path, npz, ("ids", "logits", "best_epoch"), "cross-fitting logits")
    return {"ids": npz["ids"].tolist(), "logits": npz["logits"], "best_epoch": int(npz["best_epoch"])}


def write_oof(path: Path, ids: Sequence[str], logits: np.ndarray, best_epoch: int) -> None:
    save_npz(path, {"ids": np.asarray(ids), "logits": logits.astype(np.float32), "best_epoch": np.int64(best_epoch)},
             compressed=False)


def fit_network_fold(config, data: SequenceSet, folds: np.ndarray, fold: int, run_dir: Path,
                     stop_fraction: float = 0.15, device: str = "auto", quiet: bool = True) -> dict:
    """Train one network on every fold but ``fold`` (early stopping on an inner split of that
    part), then write the logits of ``fold`` to ``run_dir/oof.npz``. Resumes from ``last.pt``."""
    import torch

    from .checkpoint import load_checkpoint
    from .trainer import Trainer, pick_device, predict_logits

    oof_path = run_dir / OOF_FILE
    if oof_path.exists():
        return read_oof(oof_path)
    rest = np.flatnonzero(folds != fold)
    train_idx, stop_idx = inner_split(data.labels, rest, stop_fraction, seed=config.seed + fold)
    trainer = Trainer(config, run_dir, device=device, quiet=quiet,
                      train=subset(data, train_idx), valid=subset(data, stop_idx),
                      train_sha256=f"crossfit fold {fold} of {int(folds.max()) + 1}")
    if (run_dir / "last.pt").exists():
        trainer.resume()
    result = trainer.fit()
    model, _ = load_checkpoint(run_dir / "best.pt", map_location=pick_device(device))
    held = subset(data, np.flatnonzero(folds == fold))
    features = None
    if getattr(model, "n_features", 0):
        from rnaloc_infer.features.coding import coding_feature_matrix

        features = coding_feature_matrix(held.codes)
    with torch.no_grad():
        logits = predict_logits(model, held, config.data.eval_token_budget, pick_device(device), features)
    write_oof(oof_path, held.ids, logits, result.best_epoch)
    log.info("fold %d: best epoch %d, stopping-set score %.4f -> %s", fold, result.best_epoch,
             result.best_macro_auroc, oof_path)
    return read_oof(oof_path)


def gather_oof(member_dir: Path, ids: Sequence[str], k: int) -> Optional[np.ndarray]:
    """The member's out-of-fold logits in ``ids`` order, or None while a fold is missing."""
    position = {i: n for n, i in enumerate(ids)}
    out: Optional[np.ndarray] = None
    for fold in range(k):
        path = member_dir / f"fold{fold}" / OOF_FILE
        if not path.exists():
            return None
        part = read_oof(path)
        if out is None:
            out = np.full((len(ids), part["logits"].shape[1]), np.nan, dtype=np.float32)
        out[[position[i] for i in part["ids"]]] = part["logits"]
    if out is not None and np.isnan(out).any():
        raise ValueError(f"{member_dir}: the folds' out-of-fold files do not cover every record")
    return out


def crossfit_network(config_path: Path, out_dir: Path, *, k: int = 5, seed: int = 0,
                     only_folds: Optional[Sequence[int]] = None, data_dir: Optional[Path] = None,
                     device: str = "auto", quiet: bool = True) -> List[dict]:
    """Cross-fit the network of one config: each fold in turn (resumable), logged per fold."""
    from .config import load_config

    config = load_config(config_path)
    resolved, source = resolve_data_dir(data_dir or config.data.data_dir,
                                        "--data-dir" if data_dir else "the config's data.data_dir")
    require_splits(resolved, source, ("train", "valid"), config.data.prefix)
    config.data = replace(config.data, data_dir=str(resolved))  # stored in every fold's run files
    data = read_labelled(resolved, config.model.classes, config.data.prefix)
    folds = fold_plan(out_dir, data, k, seed)
    member_dir = out_dir / config_path.stem
    member_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(member_dir / "source.json", json.dumps(
        {"config": str(config_path), "data_dir": str(resolved), "k": k, "seed": seed}, indent=2))
    results = []
    for fold in (only_folds if only_folds is not None else range(k)):
        run_dir = member_dir / f"fold{fold}"
        with fold_lock(run_dir) as mine:
            if not mine:  # another process (another core or machine on shared storage) trains it
                log.info("%s: fold %d is being trained by another process; skipped here", config_path.stem, fold)
                continue
            log.info("%s: fold %d of %d", config_path.stem, fold, k)
            results.append(fit_network_fold(config, data, folds, fold, run_dir, device=device, quiet=quiet))
    return results


@contextlib.contextmanager
def fold_lock(run_dir: Path) -> Iterator[bool]:
    """An exclusive, non-blocking lock on one fold's run directory: yields False when another
    process holds it. Why: several ``crossfit`` processes (one per core, or per machine on a
    shared disk) can then divide the folds between them without training one twice."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
