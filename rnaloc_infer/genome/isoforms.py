"""Per-gene isoform report: how far apart the scored isoforms of one gene are, and where
their exons differ (``rnaloc-infer GENOME --annotation A --isoforms REPORT.tsv``).

Why a report of its own: the main output has one row per transcript, and asking "do the
isoforms of this gene go to different places, and which exons make the difference?" from it
means grouping by gene, pairing rows and going back to the annotation for the exons. This
module does that once, from the rows the run writes (one small row of probabilities per
transcript held in memory, never sequences) and the exon models the annotation already
holds (``genome.annotation.Transcript``).

Definitions (docs/GENOME.md, "Isoform report"):

* a gene's isoforms are its transcripts that have a row in the main output: transcripts
  flagged outside the model's range (``--out-of-range keep``/``label``) count and are named
  in ``out_of_range``; transcripts without a row (bad records, ``--out-of-range drop`` or
  ``error``, filtered out) do not count. Genes with fewer than 2 are not written;
* probabilities are taken as the main output prints them (rounded to
  :data:`~rnaloc_infer.output.tables.PROB_DECIMALS` decimals), so ``spread_<class>`` is
  exactly max − min of that class's column over the gene's rows;
* the most different pair is the pair with the largest L1 distance between their
  probability vectors (sum over classes of ``|p_a − p_b|``); ties go to the pair that comes
  first in input order; ``isoform_a`` is the one of the pair that comes first in input order;
* ``out_of_range``: ``TRANSCRIPT:flag,flag`` for each isoform outside the model's range,
  ``;``-joined, ``-`` for none;
* ``a_only_exons`` / ``b_only_exons``: the maximal genomic intervals covered by the exons of
  one transcript of the pair and by no exon of the other, as
  ``chrom:start-end(strand)`` with 1-based inclusive coordinates (as the main output's
  ``start``/``end`` and GTF/GFF3), ascending genomic order, comma-joined; ``-`` for none.
  :func:`parse_segments` reads them back.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import IO, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..output.tables import PROB_DECIMALS
from .annotation import Transcript

log = logging.getLogger(__name__)

#: A segment: chrom, start (0-based), end (exclusive), strand.
Segment = Tuple[str, int, int, str]
NONE = "-"
_SEGMENT = re.compile(r"^(?P<chrom>.+):(?P<start>\d+)-(?P<end>\d+)\((?P<strand>[+-])\)$")


def exon_difference(a: Transcript, b: Transcript) -> List[Segment]:
    """The genomic intervals that are exonic in ``a`` and not in ``b``: maximal pieces,
    ascending, 0-based half-open. Exons on another contig or strand than ``a``'s never
    cover ``a``'s (a gene id shared by two contigs, as X/Y copies)."""
    mask = b.exons if (b.chrom, b.strand) == (a.chrom, a.strand) else []
    pieces: List[Tuple[int, int]] = []
    for start, end in a.exons:
        cursor = start
        for m_start, m_end in mask:  # both lists are short (exons of one transcript)
            if m_end <= cursor or m_start >= end:
                continue
            if m_start > cursor:
                pieces.append((cursor, m_start))
            cursor = max(cursor, m_end)
            if cursor >= end:
                break
        if cursor < end:
            pieces.append((cursor, end))
    merged: List[Tuple[int, int]] = []
    for start, end in pieces:  # exons that abut (end == next start) make one genomic piece
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return [(a.chrom, start, end, a.strand) for start, end in merged]


def format_segments(segments: Sequence[Segment]) -> str:
    """``chr1:101-200(+),chr1:301-350(+)`` (1-based inclusive), or ``-`` for none."""
    if not segments:
        return NONE
    return ",".join(f"{chrom}:{start + 1}-{end}({strand})" for chrom, start, end, strand in segments)


def parse_segments(text: str) -> List[Segment]:
    """Read a segment column back: ``[(chrom, start0, end, strand), ...]`` (0-based half-open,
    as :func:`exon_difference` returns them). Raises ValueError on a malformed entry."""
    if text == NONE:
        return []
    out: List[Segment] = []
    for entry in text.split(","):
        match = _SEGMENT.match(entry)
        if match is None:
            raise ValueError(f"not a segment (chrom:start-end(strand)): {entry!r}")
        out.append((match["chrom"], int(match["start"]) - 1, int(match["end"]), match["strand"]))
    return out


@dataclass(frozen=True)
class GeneRow:
    """One line of the report (see the module docstring for each field)."""

    gene_id: str
    gene_name: str
    n_isoforms: int
    spread: Tuple[float, ...]  # per class, max - min of the printed probabilities
    isoform_a: str
    isoform_b: str
    l1: float
    a_only: Tuple[Segment, ...]
    b_only: Tuple[Segment, ...]
    out_of_range: Tuple[Tuple[str, str], ...]  # (transcript id, flags) of flagged isoforms


def report_columns(classes: Sequence[str]) -> List[str]:
    """The report's header, in order."""
    return (["gene_id", "gene_name", "n_isoforms"] + [f"spread_{c}" for c in classes]
            + ["isoform_a", "isoform_b", "l1_distance", "a_only_exons", "b_only_exons", "out_of_range"])


def most_different_pair(probs: np.ndarray) -> Tuple[int, int, float]:
    """(i, j, L1) with i < j: the rows of ``probs`` (isoforms x classes) farthest apart in L1;
    the first such pair in row order on ties."""
    distance = np.abs(probs[:, None, :] - probs[None, :, :]).sum(axis=2)
    n = len(probs)
    upper = np.triu_indices(n, k=1)
    best = int(np.argmax(distance[upper]))  # argmax: the first maximum, in (i, j) row-major order
    i, j = int(upper[0][best]), int(upper[1][best])
    return i, j, float(distance[i, j])


class IsoformReport:
    """Collects the main output's rows of a genome run and makes the per-gene report.

    ``transcripts``: the run's transcripts in input order (``AnnotatedSource.transcripts``);
    genes are reported in the order of their first transcript there. Rows of ids not among
    them are ignored. Memory: one probability vector per row added.
    """

    kind = "isoform report"  # how the run path names it in messages

    def __init__(self, transcripts: Iterable[Transcript], classes: Sequence[str]) -> None:
        self.classes = list(classes)
        self._order: Dict[str, int] = {}
        self._transcripts: Dict[str, Transcript] = {}
        for t in transcripts:
            self._order[t.transcript_id] = len(self._order)
            self._transcripts[t.transcript_id] = t
        self._rows: Dict[str, Tuple[np.ndarray, Optional[Tuple[str, ...]]]] = {}

    def add(self, record_id: str, probs: np.ndarray, flags: Optional[Sequence[str]] = None) -> None:
        """One row of the main output: its probabilities (rounded here as printed) and its
        applicability flags (None or empty: in range)."""
        if record_id in self._transcripts:
            # the text the main output prints, read back: np.round can differ from it at a tie
            printed = np.array([float(f"{float(p):.{PROB_DECIMALS}f}") for p in probs])
            self._rows[record_id] = (printed, tuple(flags) if flags else None)

    def genes(self) -> List[GeneRow]:
        """One :class:`GeneRow` per gene with at least 2 rows, genes in input order."""
        grouped: Dict[str, List[str]] = {}
        for tid in sorted(self._rows, key=self._order.__getitem__):
            t = self._transcripts[tid]
            grouped.setdefault(t.gene_id or tid, []).append(tid)  # no gene id: a gene of its own
        out: List[GeneRow] = []
        for gene_id, tids in grouped.items():
            if len(tids) < 2:
                continue
            probs = np.stack([self._rows[tid][0] for tid in tids])
            i, j, l1 = most_different_pair(probs)
            a, b = self._transcripts[tids[i]], self._transcripts[tids[j]]
            spread = probs.max(axis=0) - probs.min(axis=0)
            flagged = tuple((tid, ",".join(self._rows[tid][1] or ())) for tid in tids if self._rows[tid][1])
            out.append(GeneRow(gene_id, a.gene_name, len(tids), tuple(float(x) for x in spread), a.transcript_id,
                               b.transcript_id, l1, tuple(exon_difference(a, b)), tuple(exon_difference(b, a)),
                               flagged))
        return out

    def write(self, stream: IO[str]) -> int:
        """Write the report (header first, even with no gene); returns the number of genes."""
        stream.write("\t".join(report_columns(self.classes)) + "\n")
        rows = self.genes()
        for row in rows:
            cells = [row.gene_id, row.gene_name or NONE, str(row.n_isoforms)]
            cells += [f"{x:.{PROB_DECIMALS}f}" for x in row.spread]
            cells += [row.isoform_a, row.isoform_b, f"{row.l1:.{PROB_DECIMALS}f}",
                      format_segments(row.a_only), format_segments(row.b_only),
                      ";".join(f"{tid}:{flags}" for tid, flags in row.out_of_range) or NONE]
            stream.write("\t".join(cell.replace("\t", " ") for cell in cells) + "\n")
        single = len({(self._transcripts[t].gene_id or t) for t in self._rows}) - len(rows)
        log.info("isoform report: %s genes with 2 or more scored isoforms (%s with one left out)",
                 f"{len(rows):,}", f"{single:,}")
        if not rows:
            log.warning("no gene has 2 or more scored transcripts: the isoform report has its header only")
        return len(rows)
