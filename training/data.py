"""Training data: FASTA + label TSV loading, training-time truncation and token-budget batching.

Why token-budget batching: transcript lengths span two orders of magnitude (≈200 nt to
>100 knt), so a fixed batch size either wastes most of the compute on padding or runs
out of memory on the long tail. Grouping records of similar length and capping
``max_len_in_batch × batch_size`` keeps every step roughly the same cost. The reader, the
label reader and the batch planner are the runtime's own (``rnaloc_infer.fasta``,
``rnaloc_infer.evaluation.labels``, ``rnaloc_infer.batching.plan_batches``), so training
sees the inputs exactly as inference and evaluation do.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import numpy as np

from rnaloc_infer.alphabet import pad_batch
from rnaloc_infer.batching import plan_batches
from rnaloc_infer.evaluation.labels import match_labels, read_labels
from rnaloc_infer.fasta import RecordError, read_file

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_ENV = "RNALOC_DATA_DIR"


DEFAULT_DATA_DIR = (REPO_ROOT / ".." / "shared" / "data").resolve()
DATA_HINT = ("DM3Loc's {prefix}_{{train,valid}}.fa.gz and *_labels.tsv belong there (README, \"Training data\"); "
             "point elsewhere with --data-dir DIR or RNALOC_DATA_DIR=DIR")


def default_data_dir() -> Path:
    """``$RNALOC_DATA_DIR`` if set, else ``../shared/data`` next to the repository root (absolute)."""
    return resolve_data_dir(None)[0]


def resolve_data_dir(given: Optional[str | Path], given_by: str = "--data-dir") -> tuple[Path, str]:
    """(absolute data directory, where it came from): ``given`` (named by ``given_by``), else
    ``$RNALOC_DATA_DIR``, else the default ``../shared/data``.

    Why absolute: a run stores the directory it read (its config, its checkpoints), and
    ``rnaloc-export`` later derives the applicability rules and prevalence from the same
    files, from another working directory and without the variable set."""
    if given:
        return Path(given).expanduser().resolve(), given_by
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve(), f"${DATA_DIR_ENV}"
    return DEFAULT_DATA_DIR, "the default ../shared/data"


def require_splits(data_dir: str | Path, source: str, splits: Sequence[str], prefix: str = "dm3loc") -> None:
    """InputError (one line, exit 1) naming the first missing split file, the data directory
    looked in and where that came from (``source``), and how to point elsewhere; called
    before any work, so a run without data stops at once rather than on an unreadable file."""
    from rnaloc_infer.errors import InputError

    for split in splits:
        for path in split_paths(data_dir, split, prefix):
            if not path.is_file():
                raise InputError(str(path), f"training data not found (data directory {data_dir}, from {source}); "
                                 + DATA_HINT.format(prefix=prefix))


@dataclass
class SequenceSet:
    """Encoded records of one split: ids, uint8 codes per record, and a (N, C) 0/1 label matrix."""

    ids: List[str]
    codes: List[np.ndarray]
    labels: np.ndarray
    classes: List[str]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(c) for c in self.codes), dtype=np.int64, count=len(self.codes))


def split_paths(data_dir: str | Path, split: str, prefix: str = "dm3loc") -> tuple[Path, Path]:
    """(FASTA, labels TSV) paths of one split, e.g. ``dm3loc_train.fa.gz`` and ``dm3loc_train_labels.tsv``."""
    data_dir = Path(data_dir)
    return data_dir / f"{prefix}_{split}.fa.gz", data_dir / f"{prefix}_{split}_labels.tsv"


def read_split(fasta: str | Path, labels_tsv: str | Path, classes: Sequence[str]) -> SequenceSet:
    """Read and encode one split; FASTA records and label rows must cover the same ids (id = first header word)."""
    labels = read_labels(labels_tsv, classes)
    ids: List[str] = []
    codes: List[np.ndarray] = []
    # The runtime's reader: training sees exactly the normalisation that inference applies.
    for record in read_file(fasta):
        if isinstance(record, RecordError):
            raise record.to_exception()
        ids.append(record.id)
        codes.append(record.codes)
    label_matrix = match_labels(ids, labels, pred_source=str(fasta), label_source=str(labels_tsv)).astype(np.float32)
    log.info("read %d records (%d nt) from %s", len(ids), sum(len(c) for c in codes), fasta)
    return SequenceSet(ids, codes, label_matrix, list(classes))


def truncate_keep_ends(codes: np.ndarray, max_len: Optional[int]) -> np.ndarray:
    """Keep the first ``ceil(max_len/2)`` and last ``floor(max_len/2)`` nt of a long record.

    Both UTRs carry localisation signals (zipcodes sit mostly in the 3' UTR, signal
    peptides at the 5' end of the CDS), so cutting only one end would lose one of them.
    Training only: evaluation always sees whole sequences.
    """
    if max_len is None or max_len <= 0 or len(codes) <= max_len:
        return codes
    head = (max_len + 1) // 2
    tail = max_len - head
    return np.concatenate([codes[:head], codes[len(codes) - tail :]]) if tail else codes[:head]


def effective_lengths(lengths: np.ndarray, max_len: Optional[int]) -> np.ndarray:
    return lengths if not max_len or max_len <= 0 else np.minimum(lengths, max_len)


def token_budget_batches(
    lengths: np.ndarray,
    token_budget: int,
    rng: Optional[np.random.Generator] = None,
    pool_size: int = 2048,
) -> List[np.ndarray]:
    """Group record indices into batches with ``max(len) × size <= token_budget``.

    With an ``rng`` (training): shuffle, cut into pools of ``pool_size`` records, sort
    each pool by length and let the runtime's planner fill batches greedily, then shuffle the
    batch order, so batches differ from epoch to epoch but stay length-homogeneous. Without
    (evaluation): one pool in length order. A single record longer than the budget forms its
    own batch. Every index appears in exactly one batch.
    """
    n = len(lengths)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    pools = [order[i : i + pool_size] for i in range(0, n, pool_size)] if rng is not None else [order]
    batches: List[np.ndarray] = []
    for pool in pools:
        ascending = pool[np.argsort(lengths[pool], kind="stable")]
        batches.extend(np.asarray(batch, dtype=np.int64) for batch in plan_batches(lengths, token_budget, ascending.tolist()))
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def collate(
    data: SequenceSet, index: np.ndarray, max_len: Optional[int] = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tokens uint8 [B, T], lengths int64 [B], labels float32 [B, C]) for one batch."""
    codes = [truncate_keep_ends(data.codes[i], max_len) for i in index]
    tokens, lengths = pad_batch(codes)
    return tokens, lengths, data.labels[index]


def iterate_batches(
    data: SequenceSet, batches: Sequence[np.ndarray], max_len: Optional[int] = None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (index, tokens, lengths, labels) per batch."""
    for index in batches:
        yield (index, *collate(data, index, max_len))
