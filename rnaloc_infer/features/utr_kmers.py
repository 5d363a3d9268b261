"""k-mer frequencies of an mRNA's two UTRs, either side of its longest open reading frame.

Why: most known localisation elements of mRNAs (zipcodes, AU-rich and Pumilio elements,
ER and mitochondrial targeting 3' UTR motifs) sit in the 3' UTR, and the 5' UTR carries
translation control; whole-record k-mer counts dilute both with the coding sequence. On
the DM3Loc valid split a forest reading these columns beside the whole-record k-mers and
the protein features scores 0.780 macro AUROC alone, against 0.762 without them
(docs/RESULTS.md, "UTR k-mers").

The UTRs are those of :mod:`.coding`: the 5' UTR is everything before the longest ORF's
ATG, the 3' UTR everything after its stop codon (or nothing when the ORF runs off the end);
a record without an ORF of :data:`~.coding.MIN_ORF_CODONS` codons is all 5' UTR. Columns:
the frequencies of the N-free k-mers, k = 1..5 in the 3' UTR then k = 1..4 in the 5' UTR
(A C G T order, first base most significant), each k's block summing to 1, or all zero when
the UTR has no such k-mer. A k-mer counts when it lies wholly inside the UTR and holds no N.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from .coding import MIN_ORF_CODONS, N_FEATURES, features_of_orfs, length_groups, orfs_of_group

UTR3_KS = (1, 2, 3, 4, 5)
UTR5_KS = (1, 2, 3, 4)
N_UTR_FEATURES = sum(4**k for k in UTR3_KS) + sum(4**k for k in UTR5_KS)
UTR_FEATURE_NAMES = [f"utr{side}_{k}mer_{j}" for side, ks in (("3", UTR3_KS), ("5", UTR5_KS)) for k in ks for j in range(4**k)]


def utr_bounds(length: np.ndarray, start: np.ndarray, codons: np.ndarray, min_codons: int) -> Tuple[np.ndarray, np.ndarray]:
    """(end of the 5' UTR, start of the 3' UTR) per record, from its longest ORF (start nt,
    codons without the stop), as :mod:`.coding` reads them."""
    length, start, codons = (np.asarray(a, dtype=np.int64) for a in (length, start, codons))
    has = codons >= min_codons
    utr5_end = np.where(has, start, length)
    utr3_start = np.where(has, np.minimum(start + 3 * (codons + 1), length), length)
    return utr5_end, utr3_start


BLOCK_WINDOWS = 1 << 21  # k-mer windows counted per step: bounded memory on chromosome-sized records


def segment_kmer_counts(flat: np.ndarray, starts: np.ndarray, ends: np.ndarray, ks: Sequence[int]) -> List[np.ndarray]:
    """Per k of ``ks`` (in that order): (segments, 4**k) int64 counts of the N-free k-mers wholly
    inside ``flat[starts:ends]``.

    All segments at once: every position of every segment is numbered, one after another,
    and taken :data:`BLOCK_WINDOWS` at a time; the k-mer starting there grows one base at a
    time (one gather per base, not per base and k), and each k in ``ks`` is one ``bincount``
    keyed by segment of the windows that are N-free and end inside their segment. So the
    work is vectorised over many short records and the memory bounded for one long one.
    """
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    n_segments, widest = len(starts), max(ks)
    sizes = np.maximum(ends - starts, 0)
    bounds = np.cumsum(sizes)
    counts: Dict[int, np.ndarray] = {}  # a k's first block's bincount is its counts (no zeros + add pass)
    total = int(bounds[-1]) if n_segments else 0
    last = max(len(flat) - 1, 0)
    for first_window in range(0, total, BLOCK_WINDOWS):
        ordinal = np.arange(first_window, min(first_window + BLOCK_WINDOWS, total))
        segment = np.searchsorted(bounds, ordinal, side="right")
        position = starts[segment] + ordinal - (bounds - sizes)[segment]
        room = ends[segment] - position  # bases left in the segment from here
        index = np.zeros(ordinal.size, dtype=np.int64)
        clean = np.ones(ordinal.size, dtype=bool)
        for j in range(widest):
            base = flat[np.minimum(position + j, last)].astype(np.int64)
            clean &= (base < 4) & (room > j)
            index = index * 4 + np.minimum(base, 3)
            if j + 1 in ks:
                found = np.bincount((segment * 4 ** (j + 1) + index)[clean], minlength=n_segments * 4 ** (j + 1))
                if j + 1 in counts:
                    counts[j + 1] += found
                else:
                    counts[j + 1] = found
    return [counts[k].reshape(n_segments, 4**k) if k in counts else np.zeros((n_segments, 4**k), dtype=np.int64) for k in ks]


def frequencies(counts: List[np.ndarray]) -> np.ndarray:
    """Each k's counts divided by their sum (0 where none), side by side: float32 of the
    float64 quotients (written block by block: no float64 copy of the whole matrix)."""
    out = np.empty((counts[0].shape[0], sum(c.shape[1] for c in counts)), dtype=np.float32)
    column = 0
    for c in counts:
        out[:, column : column + c.shape[1]] = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
        column += c.shape[1]
    return out


def utr_count_blocks(flat: np.ndarray, lengths: np.ndarray, utr5_end: np.ndarray, utr3_start: np.ndarray) -> List[np.ndarray]:
    """The k-mer count blocks of :data:`UTR_FEATURE_NAMES`' order, records back to back in ``flat``."""
    offsets = np.cumsum(lengths) - lengths
    utr3 = segment_kmer_counts(flat, offsets + utr3_start, offsets + lengths, UTR3_KS)
    utr5 = segment_kmer_counts(flat, offsets, offsets + utr5_end, UTR5_KS)
    return utr3 + utr5


def utr_feature_rows(flat: np.ndarray, lengths: np.ndarray, orf_starts: np.ndarray, orf_codons: np.ndarray,
                     min_codons: int) -> np.ndarray:
    """(records, :data:`N_UTR_FEATURES`) float32 of records back to back in ``flat``, given their ORFs."""
    utr5_end, utr3_start = utr_bounds(lengths, orf_starts, orf_codons, min_codons)
    return frequencies(utr_count_blocks(flat, lengths, utr5_end, utr3_start))


def utr_feature_matrix(records: Sequence[np.ndarray], orf_starts: np.ndarray, orf_codons: np.ndarray,
                       min_codons: int) -> np.ndarray:
    """:func:`utr_feature_rows` of separate code arrays."""
    lengths = np.array([len(r) for r in records], dtype=np.int64)
    flat = np.concatenate([np.asarray(r, dtype=np.uint8) for r in records]) if len(records) else np.zeros(0, np.uint8)
    return utr_feature_rows(flat, lengths, np.asarray(orf_starts), np.asarray(orf_codons), min_codons)


def kmer_windows(codes: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(index, Ns) of the k-mer starting at each position 0 .. len - k of one record: its
    A C G T index (first base most significant, an N read as T) and how many N it holds.

    Why: a substitution moves only the k windows covering it, so in-silico mutagenesis
    (:func:`substituted_counts`) updates a UTR's counts by those few instead of recounting.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    size = max(len(codes) - k + 1, 0)
    index = np.zeros(size, dtype=np.int64)
    ns = np.zeros(size, dtype=np.int64)
    for j in range(k):
        base = codes[j : j + size].astype(np.int64)
        ns += base >= 4
        index = index * 4 + np.minimum(base, 3)
    return index, ns


def substituted_counts(reference: np.ndarray, windows: Tuple[np.ndarray, np.ndarray], codes: np.ndarray, start: int,
                       end: int, k: int, positions: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """(variants, 4**k) int64: :func:`segment_kmer_counts` (this k) of ``codes[start:end]`` after each
    substitution (base 0..3 at a position), from the segment's ``reference`` counts (4**k,)
    and the record's :func:`kmer_windows`, without recounting the segment.

    Each window covering the position inside the segment loses its old k-mer if that was
    N-free and gains its new one if N-free once the base is replaced: substituting an N can
    add k-mers, so the block's total (the frequencies' denominator) may grow.
    """
    positions = np.asarray(positions, dtype=np.int64)
    out = np.repeat(np.asarray(reference, dtype=np.int64)[None, :], len(positions), axis=0)
    index, ns = windows
    if index.size == 0 or len(positions) == 0:
        return out
    offset = np.arange(k)  # the variant is base `offset` of the window starting at position - offset
    first = positions[:, None] - offset[None, :]
    inside = (first >= start) & (first + k <= end)
    at = np.where(inside, first, 0)
    was_n = (codes[positions] >= 4).astype(np.int64)[:, None]
    step = bases.astype(np.int64) - np.minimum(codes[positions], 3).astype(np.int64)
    old = index[at]
    new = old + step[:, None] * 4 ** (k - 1 - offset)[None, :]
    row = np.arange(len(positions))[:, None] * 4**k
    size = out.size
    out -= np.bincount((row + old)[inside & (ns[at] == 0)], minlength=size).reshape(out.shape)
    out += np.bincount((row + new)[inside & (ns[at] - was_n == 0)], minlength=size).reshape(out.shape)
    return out


def coding_utr_feature_matrix(records: Sequence[np.ndarray]) -> np.ndarray:
    """``coding-utr-v1`` of whole records' codes: (records, 91 + :data:`N_UTR_FEATURES`) float32,
    the protein's columns (as ``coding.coding_feature_matrix``), then the UTRs'.

    One longest-ORF search per record serves both (records in length-sorted groups, as
    ``coding.coding_feature_matrix`` does).
    """
    return coding_utr_columns_and_orfs(records)[0]


def coding_utr_columns_and_orfs(records: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`coding_utr_feature_matrix` and each record's longest-ORF codons (int64)."""
    records = [np.asarray(r, dtype=np.uint8) for r in records]
    out = np.zeros((len(records), N_FEATURES + N_UTR_FEATURES), dtype=np.float32)
    orf_codons = np.zeros(len(records), dtype=np.int64)
    for group in length_groups(records):
        flat, lengths, starts, codons = orfs_of_group(records, group)
        orf_codons[group] = codons
        out[group, :N_FEATURES] = features_of_orfs(flat, lengths, starts, codons)
        out[group, N_FEATURES:] = utr_feature_rows(flat, lengths, starts, codons, MIN_ORF_CODONS)
    return out, orf_codons
