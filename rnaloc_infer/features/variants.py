"""The single-nucleotide variants of a record, and their per-record features.

Every position gets the three bases it does not have (an N, or any other non-ACGT code,
gets all four), in A, C, G, T order. For a model that reads the coding-v1 features the
variants need their own: computing them from scratch costs ~0.5 ms per variant (the
longest-ORF search), minutes for a long transcript. Most variants cannot move the longest
ORF: it depends only on where ATGs and stop codons are, so a variant that neither makes
nor breaks one keeps the ORF, and then its features differ from the record's only when it
lies inside that ORF, where one vectorised call (``coding.orf_features``) scores them.

The ``coding-utr-v1`` set adds the UTRs' k-mer frequencies (:mod:`rnaloc_infer.features.utr_kmers`).
A variant that keeps the UTR bounds (every one that keeps the ORF, and most that make or
break an ATG or a stop out of its way) changes only the k-mer windows covering it inside a
UTR: the reference's counts are updated by those few windows (vectorised over the variants)
instead of recounting the UTRs of every variant; the others are recounted whole.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from .coding import (MIN_ORF_CODONS, N_FEATURES, coding_feature_matrix, features_of_orfs, length_groups, longest_orf,
                     orf_features, orfs_of_group)
from .utr_kmers import (UTR3_KS, UTR5_KS, coding_utr_feature_matrix, frequencies, kmer_windows, substituted_counts,
                        utr_bounds, utr_count_blocks, utr_feature_matrix)

BASES = "ACGT"
_ATG = 0 * 16 + 3 * 4 + 2
_STOPS = (3 * 16 + 0 * 4 + 0, 3 * 16 + 0 * 4 + 2, 3 * 16 + 2 * 4 + 0)  # TAA, TAG, TGA


def substitutions(codes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(positions, bases) of every single-nucleotide substitution, position-major, bases 0..3."""
    codes = np.asarray(codes, dtype=np.uint8)
    positions = np.repeat(np.arange(len(codes)), 4)
    bases = np.tile(np.arange(4, dtype=np.uint8), len(codes))
    keep = codes[positions] != bases
    return positions[keep], bases[keep]


def _codon_kind(first: np.ndarray, second: np.ndarray, third: np.ndarray) -> np.ndarray:
    """0 = other, 1 = ATG, 2 = stop; a codon holding an N is 'other' (as in coding.py)."""
    index = first.astype(np.int16) * 16 + second.astype(np.int16) * 4 + third
    index[(first >= 4) | (second >= 4) | (third >= 4)] = -1
    kind = np.zeros(index.shape, dtype=np.int8)
    kind[index == _ATG] = 1
    kind[np.isin(index, _STOPS)] = 2
    return kind


def moves_orf_signals(codes: np.ndarray, positions: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """True where a variant makes or breaks an ATG or a stop codon in any frame."""
    codes = np.asarray(codes, dtype=np.uint8)
    changed = np.zeros(len(positions), dtype=bool)
    for offset in range(3):  # the variant is base `offset` of the codon starting at p
        p = positions - offset
        ok = (p >= 0) & (p + 3 <= len(codes))
        p, rows = p[ok], np.flatnonzero(ok)
        old = [codes[p + k] for k in range(3)]
        new = [column.copy() for column in old]
        new[offset] = bases[rows]
        changed[rows] |= _codon_kind(*old) != _codon_kind(*new)
    return changed


def coding_variant_rows(codes: np.ndarray, positions: np.ndarray, bases: np.ndarray, block_rows: int = 512) -> np.ndarray:
    """``coding-v1``'s per-variant update: (variants, 91) float32, exactly
    ``coding_feature_matrix([variant])`` of each variant record."""
    return _variant_rows(codes, positions, bases, False, block_rows)


def coding_utr_variant_rows(codes: np.ndarray, positions: np.ndarray, bases: np.ndarray,
                            block_rows: int = 512) -> np.ndarray:
    """``coding-utr-v1``'s per-variant update: exactly ``coding_utr_feature_matrix([variant])``
    of each variant record (the protein columns as :func:`coding_variant_rows`, then the UTRs')."""
    return _variant_rows(codes, positions, bases, True, block_rows)


def _variant_rows(codes: np.ndarray, positions: np.ndarray, bases: np.ndarray, utr: bool, block_rows: int) -> np.ndarray:
    """The rows of the two sets: the record's, then only what a variant changes (module docstring)."""
    codes = np.asarray(codes, dtype=np.uint8)
    reference = (coding_utr_feature_matrix if utr else coding_feature_matrix)([codes])
    out = np.repeat(reference, len(positions), axis=0)
    if len(positions) == 0:
        return out
    start, n_codons = longest_orf(codes)
    # the record's (end of the 5' UTR, start of the 3' UTR)
    bounds = tuple(int(b[0]) for b in utr_bounds(np.array([len(codes)]), np.array([start]), np.array([n_codons]),
                                                 MIN_ORF_CODONS))
    moved = moves_orf_signals(codes, positions, bases)
    same_utrs = _moved_rows(out, codes, bounds, positions, bases, np.flatnonzero(moved), utr, block_rows)
    kept = np.flatnonzero(~moved)
    _protein_rows(out, codes, start, n_codons, positions, bases, kept, block_rows)
    if utr:
        _utr_rows(out[:, N_FEATURES:], codes, bounds, positions, bases, np.union1d(kept, same_utrs), block_rows)
    return out


def _moved_rows(out: np.ndarray, codes: np.ndarray, bounds: Tuple[int, int], positions: np.ndarray, bases: np.ndarray,
                rows: np.ndarray, utr: bool, block_rows: int) -> np.ndarray:
    """Write the columns of the variants in ``rows`` (they make or break an ATG or a stop), an
    ORF search per block of them, as the whole-record columns do.

    Returns those whose UTR bounds stay the record's (most: an ATG or stop out of the longest
    ORF's way), whose UTR columns are left to :func:`_utr_rows`: recounting the UTRs of every
    such variant of a long record would cost more than everything else here. ``bounds``: the
    record's UTR bounds (end of the 5' UTR, start of the 3' UTR)."""
    same_utrs = []
    for first in range(0, len(rows), block_rows):
        part = rows[first : first + block_rows]
        variants = np.repeat(codes[None, :], len(part), axis=0)
        variants[np.arange(len(part)), positions[part]] = bases[part]
        records = list(variants)
        for group in length_groups(records):
            flat, lengths, starts, codons = orfs_of_group(records, group)
            at = part[group]
            out[at, :N_FEATURES] = features_of_orfs(flat, lengths, starts, codons)
            if not utr:
                continue
            utr5_end, utr3_start = utr_bounds(lengths, starts, codons, MIN_ORF_CODONS)
            same = (utr5_end == bounds[0]) & (utr3_start == bounds[1])
            other = np.flatnonzero(~same)
            out[at[other], N_FEATURES:] = utr_feature_matrix([records[group[i]] for i in other], starts[other],
                                                             codons[other], MIN_ORF_CODONS)
            same_utrs.append(at[same])
    return np.concatenate(same_utrs) if same_utrs else np.zeros(0, dtype=np.int64)


def _protein_rows(out: np.ndarray, codes: np.ndarray, start: int, n_codons: int, positions: np.ndarray,
                  bases: np.ndarray, kept: np.ndarray, block_rows: int) -> None:
    """The protein columns of the variants in ``kept`` (the ORF stays put): only those inside
    the ORF differ from the record's (no ORF, none made: they depend on the length only)."""
    if n_codons < MIN_ORF_CODONS:
        return
    end = start + 3 * n_codons
    inside = kept[(positions[kept] >= start) & (positions[kept] < end)]
    reference = codes[start:end]
    for first in range(0, len(inside), block_rows):
        rows = inside[first : first + block_rows]
        orfs = np.repeat(reference[None, :], len(rows), axis=0)
        orfs[np.arange(len(rows)), positions[rows] - start] = bases[rows]
        out[rows, :N_FEATURES] = orf_features(orfs, start, len(codes))


def _utr_rows(out: np.ndarray, codes: np.ndarray, bounds: Tuple[int, int], positions: np.ndarray,
              bases: np.ndarray, kept: np.ndarray, block_rows: int) -> None:
    """The UTR k-mer columns (``out``: a view of them) of the variants in ``kept``: the UTR
    bounds stay put, so only variants inside a UTR change, and only that UTR's blocks,
    each by the windows covering the variant (:func:`rnaloc_infer.features.utr_kmers.substituted_counts`)."""
    n = len(codes)
    utr5_end, utr3_start = bounds
    segments = [(utr3_start, n, k) for k in UTR3_KS] + [(0, utr5_end, k) for k in UTR5_KS]
    counts = utr_count_blocks(codes, np.array([n]), np.array([utr5_end]), np.array([utr3_start]))
    windows = {k: kmer_windows(codes, k) for k in set(UTR3_KS) | set(UTR5_KS)}
    column = 0
    for (lo, hi, k), reference in zip(segments, counts):
        inside = kept[(positions[kept] >= lo) & (positions[kept] < hi)]
        for first in range(0, len(inside), block_rows):
            rows = inside[first : first + block_rows]
            new = substituted_counts(reference[0], windows[k], codes, lo, hi, k, positions[rows], bases[rows])
            out[rows, column : column + 4**k] = frequencies([new])
        column += 4**k
