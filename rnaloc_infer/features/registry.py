"""The named per-record feature sets a model may take as its ``features`` input: the one
place a set is declared (:data:`FEATURE_SETS`), with its width, its columns and its
per-variant update.

Why names: a graph's ``rnaloc.features`` metadata says which numbers the runtime must
compute for each whole record before streaming it; a file asking for a set this version
does not know is refused with a message, never fed wrong columns. Each set extends the
previous one, so a member that reads ``coding-v1`` (91 columns) reads the first 91 columns
of a wider set unchanged.

* ``coding-v1``: the encoded protein (:mod:`.coding`).
* ``coding-utr-v1``: ``coding-v1``, then the UTRs' k-mer frequencies (:mod:`.utr_kmers`).

A new set is one more :class:`FeatureSet` below: the runtime (``session``), training, the
export and explain (whose in-silico mutagenesis needs every variant's row, cheaply:
:mod:`.variants`) all look sets up here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .coding import N_FEATURES, coding_columns_and_orfs
from .utr_kmers import N_UTR_FEATURES, coding_utr_columns_and_orfs
from .variants import coding_utr_variant_rows, coding_variant_rows

CODING = "coding-v1"
CODING_UTR = "coding-utr-v1"


@dataclass(frozen=True)
class FeatureSet:
    """One named set of per-record features."""

    name: str
    width: int
    # whole records' codes -> ((records, width) float32, each record's longest-ORF codons):
    # the ORF search the columns make also serves the applicability check (no_orf)
    columns_and_orfs: Callable[[Sequence[np.ndarray]], Tuple[np.ndarray, np.ndarray]]
    # (record's codes, positions, bases, block_rows) -> (variants, width) float32: exactly
    # ``columns`` of each single-nucleotide variant record, without recomputing each (explain)
    variant_columns: Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


# In extension order: each set's leading columns are the set before it.
FEATURE_SETS: Dict[str, FeatureSet] = {s.name: s for s in (
    FeatureSet(CODING, N_FEATURES, coding_columns_and_orfs, coding_variant_rows),
    FeatureSet(CODING_UTR, N_FEATURES + N_UTR_FEATURES, coding_utr_columns_and_orfs, coding_utr_variant_rows),
)}


def check_feature_set(name: str) -> None:
    """Refuse a feature set this version cannot compute ("" = none)."""
    if name and name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}; this version knows {', '.join(map(repr, FEATURE_SETS))}")


def extends(wider: str, narrower: str) -> bool:
    """Whether a model taking set ``wider`` can feed a part that reads ``narrower`` (its leading columns)."""
    order = list(FEATURE_SETS)
    return wider == narrower or (narrower in order and wider in order and order.index(wider) >= order.index(narrower))


def feature_width(name: str) -> int:
    """Columns of a feature set (0 for none)."""
    check_feature_set(name)
    return FEATURE_SETS[name].width if name else 0


def record_feature_matrix(records: Sequence[np.ndarray], name: str) -> np.ndarray:
    """(records, :func:`feature_width`) float32 rows of set ``name`` for whole records' codes."""
    return record_features_and_orfs(records, name)[0]


def record_features_and_orfs(records: Sequence[np.ndarray], name: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """:func:`record_feature_matrix` and each record's longest-ORF codons (int64; None for set "").

    Why both: the runtime's applicability check (``no_orf``) needs the same ORF search the
    features make; handing it over saves a second search per record (docs/PERFORMANCE.md,
    "Short records")."""
    check_feature_set(name)
    if not name:
        return np.zeros((len(records), 0), dtype=np.float32), None
    return FEATURE_SETS[name].columns_and_orfs(records)


def variant_features(codes: np.ndarray, positions: np.ndarray, bases: np.ndarray, name: str,
                     block_rows: int = 512) -> np.ndarray:
    """(variants, ``feature_width(name)``) float32: exactly ``record_feature_matrix([variant], name)``
    of each single-nucleotide variant of ``codes`` (``name``: the set the model takes,
    ``session.info.features``)."""
    check_feature_set(name)
    if not name:
        return np.zeros((len(positions), 0), dtype=np.float32)
    return FEATURE_SETS[name].variant_columns(codes, positions, bases, block_rows)
