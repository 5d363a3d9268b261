"""Features of the protein an mRNA encodes, from its longest open reading frame.

Why: where an mRNA goes follows largely from what it encodes. Transcripts of secreted and
membrane proteins are translated at the ER because their signal peptides and transmembrane
segments are recognised while they are made; nuclear and cytosolic proteins differ in amino
acid and codon usage. A sequence model on nucleotides learns codon-level hydrophobicity in
the right frame slowly; these few numbers give it directly (on the DM3Loc valid split they
lift a k-mer regression's ER AUROC from 0.66 to 0.73, docs/RESULTS.md).

The reading frame is the longest ATG-initiated ORF on the given strand, in any of its three
frames (the usual proxy for the CDS of an mRNA without annotation); an ORF runs to its stop
codon or to the end of the record. Codons containing N extend an ORF but count towards
nothing. Records with no ORF of at least :data:`MIN_ORF_CODONS` codons get only their UTR
figures (all of the record as 5' UTR) and zeros elsewhere.

Columns (:data:`FEATURE_NAMES`): log ORF length (codons), log 5' and 3' UTR lengths (nt),
Kyte-Doolittle hydropathy of the most hydrophobic 19-residue window, the fraction of windows
above 1.6 (transmembrane-like), log the number of such segments, the most hydrophobic window
starting in the first 40 residues, mean hydropathy, the most hydrophobic 10-residue window in
the first 35 residues (a signal peptide's core), GC at third codon positions, then the
frequencies of the 20 amino acids and of the 61 sense codons.

The features describe an mRNA read 5' to 3'. On genomic DNA they describe the record's longest
ORF, which need not be a gene. Numpy only (the runtime has no torch); memory is bounded by a
block of codons plus the positions of start and stop codons, and by the longest ORF's length.
"""

from __future__ import annotations

from typing import List, Sequence

import numpy as np

from .alphabet import ALPHABET

FEATURE_SET = "coding-v1"
MIN_ORF_CODONS = 20
TM_WINDOW = 19
TM_THRESHOLD = 1.6
SIGNAL_WINDOW = 10
SIGNAL_SPAN = 35
N_TERMINAL_WINDOWS = 40

_BASES = "ACGT"
assert ALPHABET[:4] == _BASES  # codon index = 16 * first + 4 * second + third
_CODONS = [a + b + c for a in _BASES for b in _BASES for c in _BASES]
_GENETIC_CODE = "KNKNTTTTRSRSIIMIQHQHPPPPRRRRLLLLEDEDAAAAGGGGVVVV*Y*YSSSS*CWCLFLF"
_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_KYTE_DOOLITTLE = dict(A=1.8, R=-4.5, N=-3.5, D=-3.5, C=2.5, Q=-3.5, E=-3.5, G=-0.4, H=-3.2, I=4.5,
                       L=3.8, K=-3.9, M=1.9, F=2.8, P=-1.6, S=-0.8, T=-0.7, W=-0.9, Y=-1.3, V=4.2)
_ATG = _CODONS.index("ATG")
_IS_STOP = np.array([aa == "*" for aa in _GENETIC_CODE])
_SENSE = np.flatnonzero(~_IS_STOP)
_HYDROPATHY = np.array([_KYTE_DOOLITTLE.get(aa, 0.0) for aa in _GENETIC_CODE])
_AMINO_ACID_OF = np.array([_AMINO_ACIDS.index(aa) if aa != "*" else len(_AMINO_ACIDS) for aa in _GENETIC_CODE])
_NO_CODON = 64  # a codon with an N in it
_STOP_OR_NOT = np.append(_IS_STOP, False)  # indexed by codon index, _NO_CODON included

SUMMARY_NAMES = ["log_orf_codons", "log_utr5_nt", "log_utr3_nt", "max_hydropathy_19", "tm_window_fraction",
                 "log_tm_segments", "max_hydropathy_19_n_terminal", "mean_hydropathy", "signal_core_hydropathy",
                 "gc3"]
FEATURE_NAMES: List[str] = (SUMMARY_NAMES + [f"aa_{aa}" for aa in _AMINO_ACIDS]
                            + [f"codon_{_CODONS[i]}" for i in _SENSE])
N_FEATURES = len(FEATURE_NAMES)


def _codon_track(codes: np.ndarray) -> np.ndarray:
    """Index (0..63, or 64 if it holds an N) of the codon starting at every nucleotide but the last two."""
    if len(codes) < 3:
        return np.zeros(0, dtype=np.int16)
    wide = codes.astype(np.int16)
    track = wide[:-2] * 16 + wide[1:-1] * 4 + wide[2:]
    track[(codes[:-2] >= 4) | (codes[1:-1] >= 4) | (codes[2:] >= 4)] = _NO_CODON
    return track


def _starts_and_stops(codes: np.ndarray, block_nt: int) -> tuple[np.ndarray, np.ndarray]:
    """Nucleotide positions of every ATG and every stop codon, in all frames.

    Block by block, so a chromosome-sized record costs a block's temporaries plus the (sparse)
    positions, not several bytes per nucleotide.
    """
    starts, stops = [], []
    for first in range(0, max(len(codes) - 2, 0), block_nt):
        track = _codon_track(codes[first : first + block_nt + 2])
        starts.append(np.flatnonzero(track == _ATG) + first)
        stops.append(np.flatnonzero(_STOP_OR_NOT[track]) + first)
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(starts), np.concatenate(stops)


def longest_orf(codes: np.ndarray, block_nt: int = 1 << 22) -> tuple[int, int]:
    """(start nucleotide, length in codons, stop excluded) of the longest ATG-initiated ORF; (0, 0) if none.

    Ties go to the earliest frame, then the earliest start.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    starts, stops = _starts_and_stops(codes, block_nt)
    best_start, best_codons = 0, 0
    for frame in range(3):
        frame_starts = starts[starts % 3 == frame]
        if frame_starts.size == 0:
            continue
        frame_stops = stops[stops % 3 == frame]
        end_of_frame = frame + 3 * ((len(codes) - frame) // 3)
        ends = np.append(frame_stops, end_of_frame)[np.searchsorted(frame_stops, frame_starts)]
        lengths = (ends - frame_starts) // 3
        k = int(np.argmax(lengths))
        if lengths[k] > best_codons:
            best_start, best_codons = int(frame_starts[k]), int(lengths[k])
    return best_start, best_codons


def _window_means(values: np.ndarray, width: int) -> np.ndarray:
    """Means of every ``width`` consecutive entries along the last axis."""
    sums = np.concatenate((np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, axis=-1)), axis=-1)
    return (sums[..., width:] - sums[..., :-width]) / width


def coding_features(codes: np.ndarray) -> np.ndarray:
    """The :data:`FEATURE_NAMES` vector (float32) of one record given as alphabet codes."""
    codes = np.asarray(codes, dtype=np.uint8)
    start, n_codons = longest_orf(codes)
    return orf_features(codes[None, start : start + 3 * n_codons], start, len(codes))[0]


def orf_features(orf_codes: np.ndarray, start: int, record_length: int) -> np.ndarray:
    """(rows, :data:`N_FEATURES`) float32 for records of one length whose longest ORF starts at
    ``start``; row r's ORF (stop excluded) is ``orf_codes[r]``, shape (rows, 3 x codons).

    Why rows: in-silico mutagenesis (``rnaloc_infer.explain``) scores thousands of variants of
    one record whose longest ORF stays put; one vectorised call per block of them replaces a
    per-variant ORF search. Same numbers as :func:`coding_features` on each whole record.
    """
    orf_codes = np.asarray(orf_codes, dtype=np.uint8)
    rows, n_codons = orf_codes.shape[0], orf_codes.shape[1] // 3
    out = np.zeros((rows, N_FEATURES), dtype=np.float64)
    if n_codons < MIN_ORF_CODONS:
        out[:, 1] = np.log1p(record_length)
        return out.astype(np.float32)
    out[:, 0] = np.log1p(n_codons)
    out[:, 1] = np.log1p(start)
    out[:, 2] = np.log1p(max(record_length - start - 3 * (n_codons + 1), 0))
    first, second, third = (orf_codes[:, k : 3 * n_codons : 3] for k in range(3))
    index = first.astype(np.int16) * 16 + second.astype(np.int16) * 4 + third
    known = (first < 4) & (second < 4) & (third < 4)
    index[~known] = _NO_CODON
    hydropathy = np.where(known, _HYDROPATHY[np.minimum(index, 63)], 0.0)
    if n_codons >= TM_WINDOW:
        windows = _window_means(hydropathy, TM_WINDOW)
        above = windows > TM_THRESHOLD
        out[:, 3] = windows.max(axis=1)
        out[:, 4] = above.mean(axis=1)
        out[:, 5] = np.log1p(above[:, 0] + np.count_nonzero(above[:, 1:] & ~above[:, :-1], axis=1))
        out[:, 6] = windows[:, :N_TERMINAL_WINDOWS].max(axis=1)
    out[:, 7] = hydropathy.mean(axis=1)
    out[:, 8] = _window_means(hydropathy[:, :SIGNAL_SPAN], SIGNAL_WINDOW).max(axis=1)
    out[:, 9] = np.count_nonzero((third == 1) | (third == 2), axis=1) / n_codons
    n_sense = np.count_nonzero(known, axis=1)
    offsets = np.arange(rows)[:, None]
    amino_acids = np.bincount((offsets * (len(_AMINO_ACIDS) + 2) + np.where(known, _AMINO_ACID_OF[np.minimum(index, 63)], len(_AMINO_ACIDS) + 1)).ravel(),
                              minlength=rows * (len(_AMINO_ACIDS) + 2)).reshape(rows, -1)[:, : len(_AMINO_ACIDS)]
    codons = np.bincount((offsets * (_NO_CODON + 1) + index).ravel(), minlength=rows * (_NO_CODON + 1)).reshape(rows, -1)[:, _SENSE]
    has = n_sense > 0
    out[has, 10:30] = amino_acids[has] / n_sense[has, None]
    out[has, 30:] = codons[has] / n_sense[has, None]
    return out.astype(np.float32)


def coding_feature_matrix(records: Sequence[np.ndarray]) -> np.ndarray:
    """(records, :data:`N_FEATURES`) float32 matrix, one row per code array."""
    if not records:
        return np.zeros((0, N_FEATURES), dtype=np.float32)
    return np.stack([coding_features(codes) for codes in records])
