"""`rnaloc-infer`: predict RNA subcellular localisation for FASTA files.

Split in two: ``run(RunOptions)`` does the work and is callable from Python; ``main`` is
the click command and console entry point (options, logging, exit status). Every expected failure is an
RnalocError with a one-line message and a documented exit status; tracebacks only with
--debug.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Optional, Sequence

import click

from rnaloc_infer import __version__
from rnaloc_infer.batching import BatchConfig
from rnaloc_infer.cli.common import (THREADS_HELP, configure_logging, exit_with_status, run_path_options,
                                     warn_errors_file_without_skip)
from rnaloc_infer.cli.genome_options import AnnotationOptions, annotation_options
from rnaloc_infer.errors import EXIT_BROKEN_PIPE, EXIT_OK, InputError
from rnaloc_infer.output.formats import FORMATS
from rnaloc_infer.output.run import RowCount, RunOptions

if TYPE_CHECKING:
    from rnaloc_infer.output.formats import OutputSpec

log = logging.getLogger("rnaloc_infer.cli")


EPILOG = """\b
Output columns: id, length, one probability per class, labels (classes whose
probability >= the class threshold, comma-joined; "-" when none; "NA" for a
record outside the model's range: no call, see --out-of-range), applicability
("ok", or why the record is outside the model's training data: too_short,
too_long, many_n, no_orf, protein_like; "-" for a model without rules); with
--annotation also chrom, start, end (1-based, inclusive), strand, gene_id,
gene_name, transcript_type (--isoforms writes a second, per-gene
table beside it); with --profile also level and one rel_<class> per
class (the relative compartment profile). The header line is written with the first result:
an interrupted run leaves no header-only output. Run metadata (model sha256,
options, counts) goes to OUTPUT.json (--metadata).
\b
Exit status:
  0    success (with --on-error skip: bad records reported, rest predicted)
  1    bad input (message names file and record) or unusable model
  2    usage error (bad option or missing argument), or an output path that is
       one of the inputs (nothing is written)
  3    output or errors file could not be written (no partial file is left)
  4    internal error (please report; rerun with --debug for a traceback)
  5    no results: every record was skipped, dropped or filtered out (no output)
  130  interrupted (SIGINT, Ctrl-C);  143  terminated (SIGTERM)
  141  standard output closed early (e.g. piped into head); no message
\b
Help for every error message: docs/TROUBLESHOOTING.md
"""


def _check_inputs(inputs: Sequence[str]) -> None:
    """Fail before any work when an input is missing, a directory, or unreadable."""
    from rnaloc_infer.fasta import check_readable

    if sum(1 for p in inputs if p == "-") > 1:
        raise InputError("-", "standard input given more than once")
    for path in inputs:
        check_readable(path)


def run(options: RunOptions, count: Optional[RowCount] = None) -> int:
    """Predict every record of the inputs and write the table; returns the exit status.

    ``count``: rows written so far, for the message of an interrupted run on standard output."""
    # Imported here so `rnaloc-infer --help/--version` stays instant.
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.output.formats import GENOME_FORMATS
    from rnaloc_infer.output.run import resolve_run_output
    from rnaloc_infer.session import twin_file

    warn_errors_file_without_skip(options.on_error, options.errors_file)
    try:
        config = BatchConfig(options.batch_nt, options.window_records, options.window_nt, options.chunk_nt)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _check_inputs(options.inputs)
    # Genome + annotation input (docs/GENOME.md): parsed and checked before the model loads.
    from rnaloc_infer.cli import genome_options

    annotation = options.annotation or AnnotationOptions()
    genome_options.check_usage(options.inputs, annotation, isoforms=options.isoforms)
    model_path = resolve_model(options.model)
    spec = resolve_run_output(options, [("input", path) for path in options.inputs]
                              + genome_options.input_files(options.inputs, annotation)
                              + [("model", model_path), ("model", twin_file(model_path, "fp16")),
                                 ("model", twin_file(model_path, "int8"))])
    if spec.fmt in GENOME_FORMATS and not annotation.annotation:
        raise click.UsageError(f"--format {spec.fmt} needs transcript coordinates: use it with --annotation")
    if options.engine == "ray":
        return _run_ray(options, annotation, spec, count)
    source = genome_options.open_source(options.inputs[0], annotation) if annotation.annotation else None
    if source is None:
        genome_options.warn_if_genome(options.inputs)
    with contextlib.ExitStack() as stack:
        if source is not None:
            stack.callback(source.close)
        _predict_local(options, config, spec, model_path, source, count)
    return EXIT_OK


def _predict_local(options: RunOptions, config: BatchConfig, spec: "OutputSpec", model_path, source,
                   count: Optional[RowCount]) -> None:
    """The local engine: stream records through the model into the run path."""
    from rnaloc_infer.batching import predict_stream
    from rnaloc_infer.cli import genome_options
    from rnaloc_infer.cli.progress import RunProgress, input_bytes
    from rnaloc_infer.fasta import ReadMeter, read_fasta
    from rnaloc_infer.output.run import open_run
    from rnaloc_infer.output.sidecar import model_identity
    from rnaloc_infer.parallel import worker_count
    from rnaloc_infer.profile import require_prevalence
    from rnaloc_infer.session import ModelSession

    reduced = options.precision == "auto"
    session = ModelSession(model_path, device=options.device, prefer_fp16=reduced, prefer_int8=reduced)
    workers = worker_count(options.threads, session.device)
    info = session.info
    prevalence = require_prevalence(model_path, info.prevalence) if options.profile else None
    model = model_identity(options.model, model_path, info)
    log.debug("model %s, file %s (%s): classes %s, thresholds %s, providers %s, %d worker thread(s)", model["label"],
              info.path, info.precision, info.classes, info.thresholds, session.providers, workers)
    meter = ReadMeter()
    progress = RunProgress(
        enabled=options.progress, meter=meter,
        total_bytes=None if source is not None else input_bytes(options.inputs),
        total_records=len(source) if source is not None else None,
    )
    annotation_columns = list(source.columns) if source is not None else []
    fields = (lambda record_id: [source.fields[record_id][c] for c in annotation_columns]) if source is not None else None
    reports = genome_options.isoform_reports(options.isoforms, source, info.classes)
    with contextlib.ExitStack() as stack:
        stack.callback(progress.close)
        run_path = stack.enter_context(open_run(
            options, spec, model, info.classes, info.thresholds, prevalence=prevalence, class_prevalence=info.prevalence,
            annotation_columns=annotation_columns, annotation_fields=fields, engine="local", count=count,
            reports=reports))
        records = source if source is not None else read_fasta(options.inputs, meter=meter)
        for item in predict_stream(records, session, config, on_error="skip", progress=progress.update, workers=workers):
            run_path.add(item)


def _run_ray(options: RunOptions, annotation: AnnotationOptions, spec: "OutputSpec", count: Optional[RowCount]) -> int:
    """--engine ray: the same runtime and run path on Ray Data (docs/DISTRIBUTED.md); same output file."""
    if annotation.annotation:
        raise click.UsageError("--annotation (genome input) works with --engine local only")
    if "-" in options.inputs:
        raise click.UsageError("--engine ray reads files only, not standard input ('-')")
    from rnaloc_infer.distributed.engine import predict_distributed

    predict_distributed(options, spec=spec, count=count)
    return EXIT_OK


def _quiet_broken_pipe(exc: BaseException) -> int:
    """`rnaloc-infer x.fa | head`: not worth an error message."""
    _silence_stdout()
    log.debug("%s", exc)
    return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """After EPIPE on stdout, point fd 1 at /dev/null so interpreter shutdown stays quiet."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", metavar="PATH", help="Output file (written atomically). Default: standard output.")
@click.option("--model", default="default", show_default=True, metavar="NAME|PATH", help="Bundled model name or path to an .onnx file.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format. Default: from the -o extension (.tsv .csv .jsonl .bed .gff3, each optionally .gz), else tsv. "
                   "bed/gff3 need --annotation.")
@click.option("--metadata", metavar="PATH", default=None,
              help="Run metadata JSON (versions, model sha256, options, counts). Default: OUTPUT.json beside -o; none on stdout.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, help="auto = CUDA when onnxruntime-gpu sees a GPU, else CPU.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help=THREADS_HELP)
@click.option("--precision", type=click.Choice(["auto", "fp32"]), default="auto", show_default=True,
              help="auto: run the model's int8 twin on the CPU (fp16 on CUDA) when it ships one, faster and within 0.01 of fp32 (docs/EXPORT.md); fp32: the model file itself.")
@click.option("--batch-nt", type=click.IntRange(min=1), default=RunOptions.batch_nt, show_default=True, help="Padded nucleotides per model call (batch size x longest record).")
@click.option("--window-records", type=click.IntRange(min=1), default=RunOptions.window_records, show_default=True, help="Look-ahead window for length sorting: records.")
@click.option("--window-nt", type=click.IntRange(min=1), default=RunOptions.window_nt, show_default=True, help="Look-ahead window for length sorting: nucleotides.")
@click.option("--chunk-nt", type=click.IntRange(min=1), default=RunOptions.chunk_nt, show_default=True, help="Records longer than this are processed in exact chunks (rounded to the model stride).")
@run_path_options
@click.option("--profile", is_flag=True,
              help="Add the relative compartment profile: 'level' (log2 odds above a typical training mRNA, averaged over "
                   "the classes: how many compartments) and one 'rel_<class>' column per class (which compartment, "
                   "relative to the record's level; compare compartments with these, not with the probabilities). "
                   "docs/MODEL_CARD.md, \"Which compartment\".")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary; errors only.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="local: this process; ray: Ray Data on a local or remote cluster (pip install 'rnaloc-infer[ray]'; docs/DISTRIBUTED.md).")
@click.option("--address", metavar="ADDR", default=None, help="With --engine ray: cluster address ('auto', 'ray://host:10001'). Default: start a local Ray.")
@click.option("--num-workers", type=click.IntRange(min=1), default=None, help="With --engine ray: model actors. Default: cluster CPUs / --threads, or GPUs / --num-gpus-per-worker.")
@click.option("--num-gpus-per-worker", type=click.FloatRange(min=0), default=0.0, show_default=True, help="With --engine ray: GPUs per actor (fractions allowed); > 0 runs the model on CUDA.")
@annotation_options
@click.option("--isoforms", metavar="REPORT.tsv", default=None,
              help="With --annotation: also write a per-gene isoform report (genes with 2 or more scored "
                   "transcripts: per-class spread, the most different pair, the exons one has and the other "
                   "lacks; docs/GENOME.md, \"Isoform report\"). The main output is unchanged.")
@click.version_option(__version__, "--version", prog_name="rnaloc-infer")
def main(inputs, output, model, fmt, metadata, device, threads, precision, batch_nt, window_records, window_nt, chunk_nt, on_error, errors_file, out_of_range, profile, quiet, debug,
         engine, address, num_workers, num_gpus_per_worker, isoforms, **annotation) -> None:
    """Predict subcellular localisation (probability per class + labels) for RNA sequences.

    INPUT is a FASTA file (plain, gzip/bgzip, bz2, xz or zstd; wrapped lines and CRLF are
    fine) or "-" for standard input; several files are read in order. U is read as T,
    lowercase is accepted and IUPAC ambiguity codes count as N. Rows follow input order.
    """
    configure_logging("rnaloc-infer", quiet, debug)
    options = RunOptions(
        inputs=list(inputs), output=output, model=model, fmt=fmt, metadata=metadata, device=device, threads=threads,
        precision=precision, batch_nt=batch_nt, window_records=window_records, window_nt=window_nt, chunk_nt=chunk_nt,
        on_error=on_error, errors_file=errors_file, out_of_range=out_of_range, profile=profile, progress=not quiet,
        annotation=AnnotationOptions(**annotation), isoforms=isoforms,
        engine=engine, address=address, num_workers=num_workers, num_gpus_per_worker=num_gpus_per_worker,
    )
    count = RowCount()
    exit_with_status(lambda: run(options, count), debug=debug, stopped=count.stopped, broken_pipe=_quiet_broken_pipe)


if __name__ == "__main__":  # pragma: no cover
    main()
