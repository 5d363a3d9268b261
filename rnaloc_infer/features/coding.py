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

from typing import Iterator, List, Sequence, Tuple

import numpy as np

from ..alphabet import ALPHABET

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
    """Index (0..63, or 64 if it holds an N) of the codon starting at every nucleotide but the last two.

    uint8 throughout (the hottest loop of the protein features): codes 0-3 are bases, and
    N (4) and padding (5) are exactly the codes with bit 2 set.
    """
    if len(codes) < 3:
        return np.zeros(0, dtype=np.uint8)
    first, second, third = codes[:-2], codes[1:-1], codes[2:]
    track = (first << 4) + (second << 2) + third
    np.putmask(track, (first | second | third) & 4 != 0, _NO_CODON)
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


def _orfs_of_batch(flat: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`longest_orf` of many records at once: arrays of (start nucleotide, codons).

    Why: a per-record search costs ~20 numpy calls per record, which on 300-nt records took
    a third of the runtime (docs/PERFORMANCE.md). Here the records are concatenated, one
    codon track marks every ATG and stop, and each ATG finds its stop by one ``searchsorted``
    over the stops sorted by (record, frame, position). Same tie rule as longest_orf.
    ``flat`` holds the records' codes back to back, ``lengths`` their lengths.
    """
    ends = np.cumsum(lengths)
    offsets = ends - lengths
    track = _codon_track(flat)
    last_two = np.concatenate((ends - 1, ends - 2))  # codons that would run into the next record
    track[last_two[(last_two >= np.concatenate((offsets, offsets))) & (last_two < track.size)]] = _NO_CODON
    big = int(lengths.max(initial=0)) + 1

    def keyed(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        record = np.searchsorted(ends, positions, side="right")
        local = positions - offsets[record]
        frame = local % 3
        return record, local, frame, (record * 3 + frame) * big + local

    record, start, frame, start_key = keyed(np.flatnonzero(track == _ATG))
    _, stop_local, _, stop_key = keyed(np.flatnonzero(_STOP_OR_NOT[track]))
    order = np.argsort(stop_key, kind="stable")
    stop_key, stop_local = stop_key[order], stop_local[order]
    nxt = np.searchsorted(stop_key, start_key)
    inside = nxt < stop_key.size
    inside[inside] = stop_key[nxt[inside]] // big == start_key[inside] // big  # same record and frame
    end_of_frame = frame + 3 * ((lengths[record] - frame) // 3)
    end = np.where(inside, stop_local[np.minimum(nxt, max(stop_key.size - 1, 0))] if stop_key.size else 0, end_of_frame)
    codons = (end - start) // 3
    best_start = np.zeros(lengths.size, dtype=np.int64)
    best_codons = np.zeros(lengths.size, dtype=np.int64)
    if record.size:
        pick = np.lexsort((start, frame, -codons, record))  # per record: longest, earliest frame, earliest start
        first = pick[np.r_[True, record[pick][1:] != record[pick][:-1]]]
        found = codons[first] > 0
        best_start[record[first[found]]] = start[first[found]]
        best_codons[record[first[found]]] = codons[first[found]]
    return best_start, best_codons


def _window_means(sums: np.ndarray, width: int) -> np.ndarray:
    """Means of ``width`` consecutive values per row, from rows of running sums starting at 0."""
    return (sums[:, width:] - sums[:, :-width]) / width


def features_of_orfs(flat: np.ndarray, lengths: np.ndarray, starts: np.ndarray, n_codons: np.ndarray) -> np.ndarray:
    """(records, N_FEATURES) float32 given each record's ORF, vectorised over the records.

    ORFs are laid out as the rows of a [records, longest ORF] matrix, so every figure is one
    numpy call for the whole batch. Running sums are row-wise ``cumsum`` (sequential, so the
    window means, and therefore the threshold tests on them, are bit-identical to summing
    each record alone); only the mean hydropathy may differ in the last bit (pairwise sums).
    """
    out = np.zeros((lengths.size, N_FEATURES), dtype=np.float64)
    has = n_codons >= MIN_ORF_CODONS
    out[~has, 1] = np.log1p(lengths[~has])
    rows = np.flatnonzero(has)
    if rows.size == 0:
        return out.astype(np.float32)
    n = n_codons[rows]
    start = starts[rows]
    out[rows, 0] = np.log1p(n)
    out[rows, 1] = np.log1p(start)
    out[rows, 2] = np.log1p(np.maximum(lengths[rows] - start - 3 * (n + 1), 0))
    width = int(n.max())
    inside = np.arange(width) < n[:, None]
    first = np.where(inside, (np.cumsum(lengths) - lengths)[rows, None] + start[:, None] + 3 * np.arange(width), 0)
    bases = [flat[first + k].astype(np.int16) for k in range(3)]
    codon_at = np.where((bases[0] < 4) & (bases[1] < 4) & (bases[2] < 4), bases[0] * 16 + bases[1] * 4 + bases[2], _NO_CODON)
    third = bases[2]
    known = inside & (codon_at != _NO_CODON)
    hydropathy = np.where(known, _HYDROPATHY[np.minimum(codon_at, 63)], 0.0)
    sums = np.zeros((rows.size, width + 1))
    np.cumsum(hydropathy, axis=1, out=sums[:, 1:])
    if width >= TM_WINDOW:
        windows = _window_means(sums, TM_WINDOW)
        valid = np.arange(windows.shape[1]) < (n - TM_WINDOW + 1)[:, None]
        above = (windows > TM_THRESHOLD) & valid
        long_enough = n >= TM_WINDOW
        count = np.maximum(n - TM_WINDOW + 1, 1)
        masked = np.where(valid, windows, -np.inf)
        segments = above[:, 0].astype(np.int64) + np.count_nonzero(above[:, 1:] & ~above[:, :-1], axis=1)
        out[rows, 3] = np.where(long_enough, masked.max(axis=1), 0.0)
        out[rows, 4] = np.where(long_enough, np.count_nonzero(above, axis=1) / count, 0.0)
        out[rows, 5] = np.where(long_enough, np.log1p(segments), 0.0)
        out[rows, 6] = np.where(long_enough, masked[:, :N_TERMINAL_WINDOWS].max(axis=1), 0.0)
    out[rows, 7] = hydropathy.sum(axis=1) / n
    signal = _window_means(sums[:, : SIGNAL_SPAN + 1], SIGNAL_WINDOW)
    signal_valid = np.arange(signal.shape[1]) < (np.minimum(n, SIGNAL_SPAN) - SIGNAL_WINDOW + 1)[:, None]
    out[rows, 8] = np.where(signal_valid, signal, -np.inf).max(axis=1)
    out[rows, 9] = np.count_nonzero(inside & ((third == 1) | (third == 2)), axis=1) / n
    sense_codons = np.count_nonzero(known, axis=1)
    row_of = np.broadcast_to(np.arange(rows.size)[:, None], codon_at.shape)[known]
    codon_counts = np.bincount(row_of * 64 + codon_at[known], minlength=rows.size * 64).reshape(rows.size, 64)
    aa_counts = np.bincount(row_of * 21 + _AMINO_ACID_OF[codon_at[known]], minlength=rows.size * 21).reshape(rows.size, 21)
    some = sense_codons > 0
    out[rows[some], 10:30] = aa_counts[some, :20] / sense_codons[some, None]
    out[rows[some], 30:] = codon_counts[some][:, _SENSE] / sense_codons[some, None]
    return out.astype(np.float32)


def coding_features(codes: np.ndarray) -> np.ndarray:
    """The :data:`FEATURE_NAMES` vector (float32) of one record given as alphabet codes."""
    return coding_feature_matrix([codes])[0]


def orf_features(orf_codes: np.ndarray, start: int, record_length: int) -> np.ndarray:
    """(rows, :data:`N_FEATURES`) float32 for records of one length whose longest ORF starts at
    ``start``; row r's ORF (stop excluded) is ``orf_codes[r]``, shape (rows, 3 x codons).

    Why rows: in-silico mutagenesis (``rnaloc_infer.explain``) scores thousands of variants of
    one record whose longest ORF stays put; one vectorised call per block of them replaces a
    per-variant ORF search. Same numbers as :func:`coding_features` on each whole record.
    """
    orf_codes = np.asarray(orf_codes, dtype=np.uint8)
    rows, n_codons = orf_codes.shape[0], orf_codes.shape[1] // 3
    orfs = np.ascontiguousarray(orf_codes[:, : 3 * n_codons]).ravel()
    out = features_of_orfs(orfs, np.full(rows, 3 * n_codons, dtype=np.int64), np.zeros(rows, dtype=np.int64),
                            np.full(rows, n_codons, dtype=np.int64))
    if n_codons < MIN_ORF_CODONS:
        out[:, 1] = np.log1p(record_length)
    else:  # the ORF alone has no UTRs: put the record's back
        out[:, 1] = np.log1p(start)
        out[:, 2] = np.log1p(max(record_length - start - 3 * (n_codons + 1), 0))
    return out


BATCH_NT = 1 << 20  # records are processed in length-sorted groups of about this many nucleotides
LONG_NT = 1 << 20  # longer records search their ORF block by block (bounded memory), one at a time


def length_groups(records: Sequence[np.ndarray]) -> Iterator[List[int]]:
    """Indices in length-sorted groups of about BATCH_NT padded nt; a record above LONG_NT alone."""
    order = sorted(range(len(records)), key=lambda i: len(records[i]))
    group: List[int] = []
    for i in order:
        size = len(records[i])
        if group and (size > LONG_NT or (len(group) + 1) * size > BATCH_NT):
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def orfs_of_group(records: List[np.ndarray], group: List[int]) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes back to back, lengths, ORF starts, ORF codons) of one group; see length_groups."""
    lengths = np.array([len(records[i]) for i in group], dtype=np.int64)
    if len(group) == 1 and lengths[0] > LONG_NT:  # block-wise search: bounded memory
        start, codons = longest_orf(records[group[0]])
        return records[group[0]], lengths, np.array([start]), np.array([codons])
    flat = np.concatenate([records[i] for i in group])
    return (flat, lengths) + _orfs_of_batch(flat, lengths)


def longest_orf_codons(records: Sequence[np.ndarray]) -> np.ndarray:
    """Codons of each record's longest ORF (:func:`longest_orf`'s second figure), all at once."""
    records = [np.asarray(r, dtype=np.uint8) for r in records]
    out = np.zeros(len(records), dtype=np.int64)
    for group in length_groups(records):
        out[group] = orfs_of_group(records, group)[3]
    return out


def coding_feature_matrix(records: Sequence[np.ndarray]) -> np.ndarray:
    """(records, :data:`N_FEATURES`) float32 matrix, one row per code array.

    Records are grouped by length (so the ORF matrix of a group is not mostly padding) and
    each group is computed at once; a record above :data:`LONG_NT` goes alone, through the
    block-wise :func:`longest_orf`.
    """
    return coding_columns_and_orfs(records)[0]


def coding_columns_and_orfs(records: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`coding_feature_matrix` and each record's longest-ORF codons (int64): the
    applicability check (``no_orf``) reads the same search instead of making its own."""
    records = [np.asarray(r, dtype=np.uint8) for r in records]
    out = np.zeros((len(records), N_FEATURES), dtype=np.float32)
    orf_codons = np.zeros(len(records), dtype=np.int64)
    for group in length_groups(records):
        flat, lengths, starts, codons = orfs_of_group(records, group)
        orf_codons[group] = codons
        out[group] = features_of_orfs(flat, lengths, starts, codons)
    return out, orf_codons
