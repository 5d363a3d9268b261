"""The single-nucleotide variants of a record, and their per-record features.

Every position gets the three bases it does not have (an N, or any other non-ACGT code,
gets all four), in A, C, G, T order. For a model that reads the coding-v1 features the
variants need their own: computing them from scratch costs ~0.5 ms per variant (the
longest-ORF search), minutes for a long transcript. Most variants cannot move the longest
ORF: it depends only on where ATGs and stop codons are, so a variant that neither makes
nor breaks one keeps the ORF, and then its features differ from the record's only when it
lies inside that ORF, where one vectorised call (``coding.orf_features``) scores them.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from ..coding import MIN_ORF_CODONS, coding_feature_matrix, coding_features, longest_orf, orf_features

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


def variant_features(codes: np.ndarray, positions: np.ndarray, bases: np.ndarray, block_rows: int = 512) -> np.ndarray:
    """(variants, N_FEATURES) float32: exactly ``coding_features`` of each variant record."""
    codes = np.asarray(codes, dtype=np.uint8)
    out = np.repeat(coding_features(codes)[None, :], len(positions), axis=0)
    start, n_codons = longest_orf(codes)
    moved = moves_orf_signals(codes, positions, bases)
    moved_rows = np.flatnonzero(moved)
    for first in range(0, len(moved_rows), block_rows):  # batched: one ORF search per block, not per variant
        rows = moved_rows[first : first + block_rows]
        variants = np.repeat(codes[None, :], len(rows), axis=0)
        variants[np.arange(len(rows)), positions[rows]] = bases[rows]
        out[rows] = coding_feature_matrix(list(variants))
    if n_codons < MIN_ORF_CODONS:
        return out  # no ORF, and none made: the features depend on the length only
    end = start + 3 * n_codons
    inside = np.flatnonzero(~moved & (positions >= start) & (positions < end))
    reference = codes[start:end]
    for first in range(0, len(inside), block_rows):
        rows = inside[first : first + block_rows]
        orfs = np.repeat(reference[None, :], len(rows), axis=0)
        orfs[np.arange(len(rows)), positions[rows] - start] = bases[rows]
        out[rows] = orf_features(orfs, start, len(codes))
    return out
