"""Where an allele lands in a spliced transcript, and the alt transcript it makes.

Why our own small module: the edit must follow the annotation's exon model exactly as
``genome.transcripts.splice`` does (same exons, same strand handling), so that the
reference transcript scored here is the one ``rnaloc-infer --annotation`` predicts, and
the alt transcript differs from it only by the allele.

Coordinates: VCF positions are 1-based; everything here is 0-based half-open.
"""

from __future__ import annotations

import bisect
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from ..genome.annotation import Transcript
from ..genome.index import reverse_complement

#: Why an allele got no entry (the summary counts them under these names).
NO_TRANSCRIPT = "outside any transcript"
INTRONIC = "outside exons (intronic)"
BOUNDARY = "spans an exon boundary"
SYMBOLIC = "symbolic or non-nucleotide ALT"
SAME_AS_REF = "ALT equals REF"
NO_ALT = "no ALT allele"

_BASES = frozenset("ACGTNacgtn")


class Edit(NamedTuple):
    """A minimal genomic change: replace ``[start, end)`` by ``inserted`` (plus strand)."""

    start: int
    end: int
    inserted: str


def is_sequence_allele(allele: Optional[str]) -> bool:
    """True for a plain nucleotide allele; False for ``<DEL>``, ``*``, breakends, ``.``."""
    return bool(allele) and all(c in _BASES for c in allele)  # type: ignore[union-attr]


def minimal_edit(pos0: int, ref: str, alt: str) -> Edit:
    """The change of a VCF allele without the bases REF and ALT share (the indel padding base):
    trims the common suffix, then the common prefix. ``TA``->``T`` at 100 is ``[101, 102)``
    deleted; ``A``->``AGG`` at 100 inserts ``GG`` before 101."""
    r, a = ref.upper(), alt.upper()
    tail = 0
    while tail < min(len(r), len(a)) and r[len(r) - 1 - tail] == a[len(a) - 1 - tail]:
        tail += 1
    r, a = r[:len(r) - tail], a[:len(a) - tail]
    head = 0
    while head < min(len(r), len(a)) and r[head] == a[head]:
        head += 1
    return Edit(pos0 + head, pos0 + len(r), alt[head:len(alt) - tail])


def exon_offset(t: Transcript, edit: Edit) -> Tuple[Optional[int], str]:
    """Offset of the edit in the plus-strand concatenation of ``t``'s exons, or (None, reason).

    A deletion or substitution must lie inside one exon; an insertion must fall between two
    bases of one exon (at an exon's edge it could belong to the intron: not covered)."""
    before = 0
    c = t.coords
    touched = False
    for i in range(0, len(c), 2):
        s, e = c[i], c[i + 1]
        if edit.start == edit.end:
            if s < edit.start < e:
                return before + edit.start - s, ""
            touched = touched or edit.start in (s, e)
        else:
            if s <= edit.start and edit.end <= e:
                return before + edit.start - s, ""
            touched = touched or (edit.start < e and s < edit.end)
        before += e - s
    return None, BOUNDARY if touched else INTRONIC


def alt_transcript(plus_sequence: str, t: Transcript, offset: int, edit: Edit) -> str:
    """The alt transcript 5'->3': the edit applied to the plus-strand exon concatenation,
    reverse-complemented on the minus strand (so the allele is too)."""
    seq = plus_sequence[:offset] + edit.inserted + plus_sequence[offset + edit.end - edit.start:]
    return reverse_complement(seq) if t.strand == "-" else seq


class TranscriptIndex:
    """Transcripts per contig, found by position: sorted starts plus the longest span, so a
    lookup is one bisection and a short scan (annotations have no transcript of megabases
    in numbers that would matter)."""

    def __init__(self, transcripts: Sequence[Transcript]) -> None:
        by_chrom: Dict[str, List[Transcript]] = {}
        for t in transcripts:
            by_chrom.setdefault(t.chrom, []).append(t)
        self._by_chrom = {k: sorted(v, key=lambda t: (t.start, t.end, t.transcript_id)) for k, v in by_chrom.items()}
        self._starts = {k: [t.start for t in v] for k, v in self._by_chrom.items()}
        self._longest = {k: max(t.end - t.start for t in v) for k, v in self._by_chrom.items()}

    @property
    def contigs(self) -> List[str]:
        return list(self._by_chrom)

    def overlapping(self, chrom: str, start: int, end: int) -> Iterator[Transcript]:
        """Transcripts whose span meets ``[start, end)`` (an insertion: ``start == end``,
        between two bases), in genomic order."""
        items = self._by_chrom.get(chrom)
        if not items:
            return
        starts = self._starts[chrom]
        lo = bisect.bisect_left(starts, start - self._longest[chrom])
        hi = bisect.bisect_right(starts, max(end, start + 1) - 1)
        for t in items[lo:hi]:
            if t.start <= start < t.end or (end > start and t.start < end and start < t.end):
                yield t
