"""Stream spliced transcript sequences out of a genome, one at a time.

This is the glue between the annotation model (all exon coordinates in memory, small)
and the runtime (which consumes records lazily): each transcript's sequence is fetched
from the indexed genome only when the consumer asks for the next record, so memory does
not grow with the number of transcripts.

Record shapes offered to the runtime:

* ``iter_transcript_sequences`` -> TranscriptRecord(id, header, sequence, fields)
* ``AnnotatedSource`` -> ``rnaloc_infer.fasta.Record``
  (id, header, uint8 codes, source, number), the runtime's own input type, so
  ``batching.predict_stream(source, session, config)`` works unchanged; the output
  columns per record id are in ``AnnotatedSource.fields``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from ..alphabet import count_ambiguous, encode
from .annotation import Transcript, read_annotation
from .index import GenomeError, IndexedGenome, reverse_complement
from .filters import TranscriptFilter, apply_filters

log = logging.getLogger(__name__)

PathLike = Union[str, Path]

#: Output columns per transcript in genome mode (after ``labels``). ``id`` is the transcript
#: id, so there is no separate transcript_id column; ``start``/``end`` are the transcript's
#: genomic span, 1-based inclusive (GTF/GFF3 convention; BED output converts to 0-based).
OUTPUT_COLUMNS: Tuple[str, ...] = ("chrom", "start", "end", "strand", "gene_id", "gene_name", "transcript_type")


def output_fields(t: Transcript) -> Dict[str, object]:
    """The genome-mode output columns of one transcript (see OUTPUT_COLUMNS)."""
    return {
        "chrom": t.chrom, "start": t.start + 1, "end": t.end, "strand": t.strand,
        "gene_id": t.gene_id, "gene_name": t.gene_name, "transcript_type": t.transcript_type,
    }


class TranscriptRecord(NamedTuple):
    """One spliced transcript: id, FASTA-style header, sequence (5'->3', genome case kept), columns."""

    id: str
    header: str
    sequence: str
    fields: Dict[str, str]


def transcript_header(t: Transcript) -> str:
    """FASTA-like header: ``TID gene_id=.. gene_name=.. transcript_type=.. loc=chr:s-e(strand)``."""
    return (
        f"{t.transcript_id} gene_id={t.gene_id} gene_name={t.gene_name} "
        f"transcript_type={t.transcript_type} loc={t.chrom}:{t.start + 1}-{t.end}({t.strand})"
    )


def splice(genome: IndexedGenome, t: Transcript) -> str:
    """The mature transcript sequence 5'->3' (reverse complement on the minus strand)."""
    c = t.coords
    if len(c) == 2:
        seq = genome.fetch(t.chrom, c[0], c[1])
    else:
        # One fetch of the whole span then local slicing: far fewer backend calls than one
        # per exon, and genes are short enough (median tens of kb) that this is cheaper.
        span = genome.fetch(t.chrom, c[0], c[-1])
        base = c[0]
        seq = "".join(span[c[i] - base:c[i + 1] - base] for i in range(0, len(c), 2))
    if t.strand == "-":
        seq = reverse_complement(seq)
    return seq


def check_contigs(
    genome: IndexedGenome, transcripts: Sequence[Transcript], skip_missing: bool = False
) -> List[Transcript]:
    """Fail fast (before any prediction) when a transcript's contig or exon is not in the genome.

    The error names the transcript, the contig, and a likely naming fix (chr1 vs 1).
    With ``skip_missing`` those transcripts are dropped with one warning instead.
    """
    kept: List[Transcript] = []
    missing: Dict[str, int] = {}
    for t in transcripts:
        size = genome.lengths.get(t.chrom)
        problem = None
        if size is None:
            hint = genome.suggest_contig(t.chrom)
            problem = f"contig {t.chrom!r} is not in genome {genome.path}" + (
                f" (the genome has {hint!r}: annotation and genome use different contig naming)"
                if hint else ""
            )
        elif t.end > size:
            problem = f"exon end {t.end} is past the end of {t.chrom} (length {size}); wrong genome build?"
        if problem is None:
            kept.append(t)
        elif skip_missing:
            missing[t.chrom] = missing.get(t.chrom, 0) + 1
        else:
            raise GenomeError(f"transcript {t.transcript_id}: {problem}")
    if missing:
        log.warning(
            "skipped %d transcripts on contigs missing from or shorter in %s: %s",
            sum(missing.values()), genome.path, ", ".join(sorted(missing)[:10]),
        )
    return kept


def iter_transcript_sequences(genome: IndexedGenome, transcripts: Iterable[Transcript]) -> Iterator[TranscriptRecord]:
    """Lazily yield each transcript's spliced sequence; errors name the transcript."""
    for t in transcripts:
        try:
            seq = splice(genome, t)
        except GenomeError as exc:
            raise GenomeError(f"transcript {t.transcript_id}: {exc}") from exc
        yield TranscriptRecord(t.transcript_id, transcript_header(t), seq, t.fields())


class AnnotatedSource:
    """Genome + annotation + filters, as a re-iterable source of runtime records.

    Parses the annotation (and validates contigs) on construction, so errors surface
    before the model is loaded; sequences are read only during iteration. ``fields``
    maps each record id to its output columns (OUTPUT_COLUMNS) for the writers.
    """

    columns: Tuple[str, ...] = OUTPUT_COLUMNS

    def __init__(
        self,
        genome_path: PathLike,
        annotation_path: PathLike,
        flt: Optional[TranscriptFilter] = None,
        annotation_format: Optional[str] = None,
        skip_missing_contigs: bool = False,
        backend: str = "auto",
    ) -> None:
        self.annotation_path = Path(annotation_path)
        self.genome = IndexedGenome(genome_path, backend=backend)
        try:
            annotated = read_annotation(annotation_path, annotation_format)
            transcripts = apply_filters(annotated, flt)
            self.transcripts = check_contigs(self.genome, transcripts, skip_missing_contigs)
        except Exception:
            self.genome.close()
            raise
        # What was left out, to explain an empty run (cli/genome_options.open_source).
        self.n_annotated = len(annotated)
        self.n_after_filters = len(transcripts)
        kept_ids = {id(t) for t in self.transcripts}
        self.missing_contigs = sorted({t.chrom for t in transcripts if id(t) not in kept_ids})
        self.fields: Dict[str, Dict[str, object]] = {t.transcript_id: output_fields(t) for t in self.transcripts}

    def __len__(self) -> int:
        return len(self.transcripts)

    def __iter__(self) -> Iterator[object]:
        """``rnaloc_infer.fasta.Record`` items (or ``RecordError`` for an unencodable
        sequence), exactly what ``batching.predict_stream`` consumes from FASTA input.

        ``source`` is the annotation file name, ``number`` the 1-based transcript index.
        """
        from ..fasta import Record, RecordError  # runtime module; imported late on purpose

        source = str(self.annotation_path)
        for number, rec in enumerate(iter_transcript_sequences(self.genome, self.transcripts), 1):
            try:
                codes = encode(rec.sequence)
            except ValueError as exc:
                yield RecordError(source, number, rec.id, str(exc))
                continue
            if codes.size == 0:
                yield RecordError(source, number, rec.id, "empty transcript sequence")
                continue
            yield Record(rec.id, rec.header, codes, source, number, count_ambiguous(rec.sequence))

    def records(self) -> Iterator[TranscriptRecord]:
        """Records with the sequence as a string and the columns attached."""
        return iter_transcript_sequences(self.genome, self.transcripts)

    def close(self) -> None:
        self.genome.close()

    def __enter__(self) -> "AnnotatedSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
