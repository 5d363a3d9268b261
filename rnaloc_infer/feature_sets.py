"""The named per-record feature sets a model may take as its ``features`` input.

Why names: a graph's ``rnaloc.features`` metadata says which numbers the runtime must
compute for each whole record before streaming it; a file asking for a set this version
does not know is refused with a message, never fed wrong columns. Each set extends the
previous one, so a member that reads ``coding-v1`` (91 columns) reads the first 91 columns
of a wider set unchanged.

* ``coding-v1``: the encoded protein (:mod:`.coding`).
* ``coding-utr-v1``: ``coding-v1``, then the UTRs' k-mer frequencies (:mod:`.utr_kmers`).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .coding import FEATURE_SET as CODING, MIN_ORF_CODONS, N_FEATURES, features_of_orfs, length_groups, orfs_of_group
from .utr_kmers import N_UTR_FEATURES, utr_feature_rows

CODING_UTR = "coding-utr-v1"
WIDTHS = {CODING: N_FEATURES, CODING_UTR: N_FEATURES + N_UTR_FEATURES}


def check_feature_set(name: str) -> None:
    """Refuse a feature set this version cannot compute ("" = none)."""
    if name and name not in WIDTHS:
        raise ValueError(f"unknown feature set {name!r}; this version knows {', '.join(map(repr, WIDTHS))}")


def extends(wider: str, narrower: str) -> bool:
    """Whether a model taking set ``wider`` can feed a part that reads ``narrower`` (its leading columns)."""
    order = list(WIDTHS)
    return wider == narrower or (narrower in order and wider in order and order.index(wider) >= order.index(narrower))


def feature_width(name: str) -> int:
    """Columns of a feature set (0 for none)."""
    check_feature_set(name)
    return WIDTHS.get(name, 0)


def record_feature_matrix(records: Sequence[np.ndarray], name: str) -> np.ndarray:
    """(records, :func:`feature_width`) float32 rows of set ``name`` for whole records' codes.

    One longest-ORF search per record serves both the protein and the UTR columns (records
    in length-sorted groups, as :func:`.coding.coding_feature_matrix` does).
    """
    return record_features_and_orfs(records, name)[0]


def record_features_and_orfs(records: Sequence[np.ndarray], name: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """:func:`record_feature_matrix` and each record's longest-ORF codons (int64; None for set "").

    Why both: the runtime's applicability check (``no_orf``) needs the same ORF search the
    features make; handing it over saves a second search per record (docs/PERFORMANCE.md,
    "Short records").
    """
    check_feature_set(name)
    records = [np.asarray(r, dtype=np.uint8) for r in records]
    out = np.zeros((len(records), feature_width(name)), dtype=np.float32)
    if not name:
        return out, None
    orf_codons = np.zeros(len(records), dtype=np.int64)
    for group in length_groups(records):
        flat, lengths, starts, codons = orfs_of_group(records, group)
        orf_codons[group] = codons
        out[group, :N_FEATURES] = features_of_orfs(flat, lengths, starts, codons)
        if name == CODING_UTR:
            out[group, N_FEATURES:] = utr_feature_rows(flat, lengths, starts, codons, MIN_ORF_CODONS)
    return out, orf_codons
