"""Is a record inside what the model was trained on? Short, stable flags per record.

Why: a model scores anything it is given. A 1-nt record, ten Ns, or a peptide written in
letters that happen to be IUPAC nucleotide codes all get confident-looking probabilities,
although nothing like them was in the training data. Each record therefore gets a flag:
``ok``, or the comma-joined codes of the rules it breaks (order as in :data:`FLAGS`):

============== =====================================================================
code           the record ...
============== =====================================================================
too_short      is shorter than the shortest training record (``min_length``)
too_long       is longer than the longest training record (``max_length``)
many_n         has a larger fraction of N (and other ambiguity codes) than
               ``max_n_fraction``
no_orf         has no ATG-initiated ORF of at least ``min_orf_codons`` codons (the
               shortest longest-ORF of a training record)
protein_like   reads like a peptide written in letters that are also nucleotide codes
               (``MKRSHWCDAVG``): more than :data:`PROTEIN_FRACTION` of its letters are
               other than A/C/G/T/U/N (and more than ``max_ambiguous_fraction``). DNA
               with many IUPAC codes is not protein: its ambiguity codes count as N
               (``many_n``); a peptide has about 4 in 5 such letters
============== =====================================================================

The limits are the model's, not the runtime's: they are derived from the training data
(:func:`derive_rules`) and stored in the ONNX metadata as ``rnaloc.applicability`` (JSON of
:class:`ApplicabilityRules`), so a model trained on other data carries its own. A model
without that key gets no flag (``-``). Flagged records still get probabilities.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from .alphabet import N_CODE
from .fasta import Record, read_fasta
from .features.coding import longest_orf, longest_orf_codons

OK = "ok"
# What rnaloc-infer does with a flagged record: keep it (probabilities, no labels), label it
# anyway, leave it out, or treat it as a bad record.
OUT_OF_RANGE_POLICIES = ("keep", "label", "drop", "error")
# A peptide read as nucleotides: ~78% of residues are letters other than A/C/G/T (alanine,
# cysteine, glycine, threonine are ~22% of residues); IUPAC-rich DNA stays far below half.
PROTEIN_FRACTION = 0.5
UNCHECKED = "-"  # the model carries no rules
FLAGS = ("too_short", "too_long", "many_n", "no_orf", "protein_like")
METADATA_KEY = "rnaloc.applicability"
# Tolerances added to the training maxima of the two fractions (both are 0 in DM3Loc's
# train split, so a single ambiguity code in a long mRNA would otherwise be flagged).
FRACTION_MARGIN = 0.05


@dataclass(frozen=True)
class ApplicabilityRules:
    """Limits of the training data; :meth:`check` flags a record outside them."""

    min_length: int
    max_length: int
    max_n_fraction: float
    min_orf_codons: int
    max_ambiguous_fraction: float

    def check(self, codes: np.ndarray, ambiguous: int = 0, orf_codons: Optional[int] = None) -> Tuple[str, ...]:
        """The flags (subset of FLAGS, in that order) for one record's codes; () when in range.

        ``ambiguous``: how many of the record's letters were ambiguity codes or gaps
        (:func:`rnaloc_infer.alphabet.count_ambiguous` of the raw letters; the codes alone cannot tell them from N).
        ``orf_codons``: its longest ORF's codons when already known (:meth:`check_many`).
        """
        length = int(codes.shape[0])
        flags = []
        if length < self.min_length:
            flags.append("too_short")
        if length > self.max_length:
            flags.append("too_long")
        if length and np.count_nonzero(codes == N_CODE) / length > self.max_n_fraction:
            flags.append("many_n")
        if (longest_orf(codes)[1] if orf_codons is None else orf_codons) < self.min_orf_codons:
            flags.append("no_orf")
        if length and ambiguous / length > max(self.max_ambiguous_fraction, PROTEIN_FRACTION):
            flags.append("protein_like")
        return tuple(flags)

    def check_many(self, records: Sequence[np.ndarray], ambiguous: Sequence[int],
                   orf_codons: Optional[Sequence[int]] = None) -> List[Tuple[str, ...]]:
        """:meth:`check` of many records at once: the same flags, vectorised over the records.

        Why: one ORF search per record costs ~100-350 µs of numpy calls, as much as the model
        on a 300-nt record; batched it is a few µs per record, and the other tests are one
        numpy call per batch instead of a few per record (docs/PERFORMANCE.md).
        ``orf_codons``: the records' longest-ORF codons when already known (the runtime's
        feature computation found them, :func:`~rnaloc_infer.features.registry.record_features_and_orfs`).
        """
        if not len(records):
            return []
        orfs = longest_orf_codons(records) if orf_codons is None else np.asarray(orf_codons, dtype=np.int64)
        lengths = np.array([r.shape[0] for r in records], dtype=np.int64)
        ends = np.cumsum(lengths)
        n_before = np.concatenate(([0], np.cumsum(np.concatenate(records) == N_CODE)))
        n_count = n_before[ends] - n_before[ends - lengths]
        divisor = np.maximum(lengths, 1)  # a length-0 record is never flagged by a fraction (as in check)
        columns = (
            lengths < self.min_length,
            lengths > self.max_length,
            (lengths > 0) & (n_count / divisor > self.max_n_fraction),
            orfs < self.min_orf_codons,
            (lengths > 0) & (np.asarray(ambiguous, dtype=np.int64) / divisor > max(self.max_ambiguous_fraction, PROTEIN_FRACTION)),
        )
        return [tuple(flag for flag, on in zip(FLAGS, row) if on) if any(row) else ()
                for row in zip(*(column.tolist() for column in columns))]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ApplicabilityRules":
        """Parse the metadata value; ValueError naming the problem when it is malformed."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict) or any(name not in data for name in names):
            raise ValueError(f"must be a JSON object with {', '.join(names)}")
        try:
            rules = cls(
                min_length=int(data["min_length"]), max_length=int(data["max_length"]),
                max_n_fraction=float(data["max_n_fraction"]), min_orf_codons=int(data["min_orf_codons"]),
                max_ambiguous_fraction=float(data["max_ambiguous_fraction"]),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad value ({exc})") from None
        if not 0 < rules.min_length <= rules.max_length or rules.min_orf_codons < 0:
            raise ValueError("needs 0 < min_length <= max_length and min_orf_codons >= 0")
        return rules


def flag_text(flags: Optional[Tuple[str, ...]]) -> str:
    """The output column: ``ok``, comma-joined codes, or ``-`` when the model has no rules."""
    if flags is None:
        return UNCHECKED
    return ",".join(flags) or OK


def parse_flag_text(text: Optional[str]) -> Optional[Tuple[str, ...]]:
    """Inverse of :func:`flag_text`."""
    if text is None or text == UNCHECKED:
        return None
    return () if text == OK else tuple(text.split(","))


@dataclass(frozen=True)
class TrainingStats:
    """What :func:`derive_rules` measured (reported in the model card)."""

    records: int
    min_length: int
    max_length: int
    max_n_fraction: float
    min_orf_codons: int
    max_ambiguous_fraction: float


def measure(paths: Iterable[Union[str, "os.PathLike[str]"]]) -> TrainingStats:
    """Extremes of length, N fraction, longest ATG ORF and ambiguity-code fraction over FASTA files."""
    n = 0
    lo, hi, max_n, min_orf, max_amb = None, 0, 0.0, None, 0.0
    for item in read_fasta(list(paths), warn_duplicates=False):
        if not isinstance(item, Record):
            raise item.to_exception()
        n += 1
        length = item.length
        lo = length if lo is None else min(lo, length)
        hi = max(hi, length)
        max_n = max(max_n, np.count_nonzero(item.codes == N_CODE) / length)
        orf = longest_orf(item.codes)[1]
        min_orf = orf if min_orf is None else min(min_orf, orf)
        max_amb = max(max_amb, item.ambiguous / length)
    if n == 0:
        raise ValueError("no records to derive applicability rules from")
    return TrainingStats(n, int(lo), int(hi), float(max_n), int(min_orf), float(max_amb))


def derive_rules(paths: Iterable[Union[str, "os.PathLike[str]"]]) -> Tuple[ApplicabilityRules, TrainingStats]:
    """Rules from the training FASTA: the length and ORF extremes as they are, the two
    fractions with :data:`FRACTION_MARGIN` added (rounded to 4 decimals)."""
    stats = measure(paths)
    rules = ApplicabilityRules(
        min_length=stats.min_length,
        max_length=stats.max_length,
        max_n_fraction=round(min(1.0, stats.max_n_fraction + FRACTION_MARGIN), 4),
        min_orf_codons=stats.min_orf_codons,
        max_ambiguous_fraction=round(min(1.0, stats.max_ambiguous_fraction + FRACTION_MARGIN), 4),
    )
    return rules, stats
