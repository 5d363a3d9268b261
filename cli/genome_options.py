"""Command-line glue for genome + annotation input (``rnaloc-infer GENOME --annotation GTF``).

Kept out of cli/predict.py so that the predict command needs only a few lines to gain
the feature: one decorator for the options, one call to validate them, and one call that
returns the record stream. Every failure becomes the runtime's one-line error types
(InputError / RnalocError, exit status 1) or a click.UsageError (status 2).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import click

from rnaloc_infer.errors import InputError, NoResults, RnalocError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotationOptions:
    """What the user asked for with --annotation and its filters."""

    annotation: Optional[str] = None
    annotation_format: str = "auto"
    transcript_types: Optional[str] = None
    genes: Optional[str] = None
    transcripts: Optional[str] = None
    canonical: bool = False
    skip_missing_contigs: bool = False

    @property
    def filters_given(self) -> bool:
        return bool(self.transcript_types or self.genes or self.transcripts or self.canonical or self.skip_missing_contigs)


def annotation_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """click decorator adding --annotation and its filters (keyword names = AnnotationOptions fields,
    so the command builds its options with ``AnnotationOptions(**those_keywords)``)."""
    options = [
        click.option(
            "--annotation", metavar="GTF|GFF3", default=None,
            help="Gene annotation (GTF or GFF3, plain or gzip). INPUT is then a genome FASTA "
                 "(plain or bgzip; indexed on first use) and each annotated transcript is spliced "
                 "out of it and predicted. Needs: pip install 'rnaloc-infer[genome]'.",
        ),
        click.option(
            "--annotation-format", type=click.Choice(["auto", "gtf", "gff3"]), default="auto",
            show_default=True, help="Annotation format (auto: from the file name, else its content).",
        ),
        click.option(
            "--transcript-types", metavar="LIST", default=None,
            help="With --annotation: keep these transcript biotypes (comma list), e.g. protein_coding: "
                 "the model was trained on mRNAs; other biotypes are out of its range (model card).",
        ),
        click.option(
            "--genes", metavar="LIST|FILE", default=None,
            help="With --annotation: keep these genes (gene ids with or without version, or gene "
                 "names); comma list or a file with one per line.",
        ),
        click.option(
            "--transcripts", metavar="LIST|FILE", default=None,
            help="With --annotation: keep these transcript ids (version optional); comma list or file.",
        ),
        click.option(
            "--canonical", is_flag=True,
            help="With --annotation: one transcript per gene (MANE_Select, else Ensembl_canonical, "
                 "else longest), chosen after the other filters.",
        ),
        click.option(
            "--skip-missing-contigs", is_flag=True,
            help="With --annotation: skip transcripts on contigs absent from the genome (default: error).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_usage(inputs: Sequence[str], opts: AnnotationOptions, *, isoforms: Optional[str] = None) -> None:
    """Reject option combinations that cannot work, before any file is read."""
    if isoforms is not None and opts.annotation is None:
        raise click.UsageError("--isoforms needs --annotation: isoforms are the transcripts of one gene in the annotation")
    if isoforms is not None and opts.canonical:
        raise click.UsageError("--isoforms with --canonical: one transcript per gene leaves no isoforms to compare")
    if opts.annotation is None:
        if opts.filters_given:
            raise click.UsageError(
                "--transcript-types/--genes/--transcripts/--canonical/--skip-missing-contigs need --annotation"
            )
        return
    if len(inputs) != 1 or inputs[0] == "-":
        raise click.UsageError("with --annotation, give exactly one INPUT: the genome FASTA file (not '-')")


def input_files(inputs: Sequence[str], opts: AnnotationOptions) -> List[Tuple[str, str]]:
    """The files genome input reads besides INPUT, named for the overwrite check: the
    annotation, id-list files given to --genes/--transcripts, and the genome's index files."""
    if opts.annotation is None:
        return []
    named = [("annotation", opts.annotation)]
    named += [(f"{flag} file", value) for flag, value in (("--genes", opts.genes), ("--transcripts", opts.transcripts))
              if value and os.path.isfile(value)]
    named += [("genome index", inputs[0] + suffix) for suffix in (".fai", ".gzi")]
    return named


def isoform_reports(path: Optional[str], source: Any, classes: Sequence[str]) -> List[Tuple[str, Any]]:
    """``--isoforms PATH``: the (path, report) pair the run path fills and writes (none without)."""
    if path is None or source is None:
        return []
    from rnaloc_infer.genome.isoforms import IsoformReport

    return [(path, IsoformReport(source.transcripts, classes))]


def open_source(genome: str, opts: AnnotationOptions):
    """Parse, filter and validate; returns an AnnotatedSource (iterate it for runtime Records).

    Errors are raised here, before the model runs: a missing [genome] extra, a malformed
    annotation line, a contig absent from the genome (naming the transcript).
    """
    from rnaloc_infer.genome.annotation import AnnotationError
    from rnaloc_infer.genome.index import GenomeError, MissingGenomeDependency
    from rnaloc_infer.genome.filters import TranscriptFilter, parse_id_list, parse_type_list
    from rnaloc_infer.genome.transcripts import AnnotatedSource

    flt = TranscriptFilter(
        transcript_types=parse_type_list(opts.transcript_types),
        gene_ids=parse_id_list(opts.genes),
        transcript_ids=parse_id_list(opts.transcripts),
        canonical=opts.canonical,
    )
    fmt = None if opts.annotation_format == "auto" else opts.annotation_format
    try:
        source = AnnotatedSource(
            genome, opts.annotation, flt, annotation_format=fmt,
            skip_missing_contigs=opts.skip_missing_contigs,
        )
    except MissingGenomeDependency:
        raise RnalocError("--annotation needs the genome extra: pip install 'rnaloc-infer[genome]'") from None
    except (AnnotationError, GenomeError) as exc:  # messages already name file+line / transcript
        raise RnalocError(str(exc)) from None
    except OSError as exc:
        raise InputError(exc.filename or genome, exc.strerror or str(exc)) from None
    if len(source) == 0:
        source.close()
        raise NoResults(_nothing_left(source, genome, opts))
    else:
        log.info("%s transcripts from %s (genome %s)", f"{len(source):,}", opts.annotation, genome)
    return source


def _nothing_left(source, genome: str, opts: AnnotationOptions) -> str:
    """Why no transcript of the annotation is left to predict (exit 5), step by step."""
    what = f"no transcripts to predict: {opts.annotation} has {source.n_annotated:,}"
    if source.n_annotated == 0:
        return what + " (no transcript or exon rows of a known format); no output written"
    if source.n_after_filters == 0:
        return what + ", none passes the filters (--transcript-types/--genes/--transcripts); no output written"
    shown = ", ".join(source.missing_contigs[:5]) + (", ..." if len(source.missing_contigs) > 5 else "")
    return (what + f", {source.n_after_filters:,} pass the filters, and --skip-missing-contigs skipped all of them "
            f"(contigs missing from or shorter in {genome}: {shown}); no output written")


def warn_if_genome(inputs: Sequence[str]) -> bool:
    """Without --annotation: warn when an input looks like a genome (returns True if so)."""
    from rnaloc_infer.genome.index import looks_like_genome

    found = False
    for path in inputs:
        if path == "-" or not os.path.isfile(path):
            continue  # a pipe, FIFO or /dev/stdin: peeking would consume records the reader needs
        try:
            reason = looks_like_genome(path)
        except Exception:  # only decides on a warning: the FASTA reader reports bad input properly
            continue
        if reason:
            found = True
            log.warning(
                "%s looks like a genome (%s): whole chromosomes are not transcripts; "
                "to predict annotated transcripts use --annotation GTF|GFF3", path, reason,
            )
    return found
