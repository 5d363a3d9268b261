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
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import click

from rnaloc_infer import __version__
from rnaloc_infer.batching import BatchConfig
from rnaloc_infer.cli.common import configure_logging, exit_with_status
from rnaloc_infer.cli.genome_options import AnnotationOptions, annotation_options
from rnaloc_infer.output.formats import FORMATS
from rnaloc_infer.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_OK,
    InputError,
    NoResults,
)

if TYPE_CHECKING:
    from rnaloc_infer.output.formats import OutputSpec
    from rnaloc_infer.batching import Scored
    from rnaloc_infer.fasta import RecordError

log = logging.getLogger("rnaloc_infer.cli")


EPILOG = """\b
Output columns: id, length, one probability per class, labels (classes whose
probability >= the class threshold, comma-joined; "-" when none), applicability
("ok", or why the record is outside the model's training data: too_short,
too_long, many_n, no_orf, protein_like; "-" for a model without rules); with
--annotation also chrom, start, end (1-based, inclusive), strand, gene_id,
gene_name, transcript_type; with --profile also level and one rel_<class> per
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


@dataclass
class RunOptions:
    """What one `rnaloc-infer` run does (the command's options; batching defaults are BatchConfig's)."""

    inputs: Sequence[str]
    output: Optional[str] = None
    model: str = "default"
    fmt: Optional[str] = None  # None: from the output's extension (rnaloc_infer.output.formats)
    metadata: Optional[str] = None  # sidecar path; None: OUTPUT.json beside a file output
    device: str = "auto"
    threads: Optional[int] = None
    precision: str = "auto"  # auto: the model's int8 (CPU) / fp16 (CUDA) twin when it ships one; fp32: the file itself
    batch_nt: int = BatchConfig.batch_nt
    window_records: int = BatchConfig.window_records
    window_nt: int = BatchConfig.window_nt
    chunk_nt: int = BatchConfig.chunk_nt
    on_error: str = "fail"
    errors_file: Optional[str] = None
    out_of_range: str = "keep"  # records the model's applicability rules flag: keep | drop | error
    profile: bool = False  # add the relative compartment profile columns (rnaloc_infer.profile)
    progress: bool = True
    annotation: Optional[AnnotationOptions] = None  # genome input: --annotation + filters
    engine: str = "local"  # "ray": rnaloc_infer.distributed.engine (docs/DISTRIBUTED.md)
    address: Optional[str] = None
    num_workers: Optional[int] = None
    num_gpus_per_worker: float = 0.0


def _check_inputs(inputs: Sequence[str]) -> None:
    """Fail before any work when an input is missing, a directory, or unreadable."""
    from rnaloc_infer.fasta import check_readable

    if sum(1 for p in inputs if p == "-") > 1:
        raise InputError("-", "standard input given more than once")
    for path in inputs:
        check_readable(path)


def run(options: RunOptions) -> int:
    """Predict every record of the inputs and write the table; returns the exit status."""
    # Imported here so `rnaloc-infer --help/--version` stays instant.
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.output.formats import GENOME_FORMATS, resolve_output
    from rnaloc_infer.session import twin_file
    from rnaloc_infer.writers import refuse_overwrite

    if options.errors_file and options.on_error == "fail":
        log.warning("--errors-file collects skipped records only with --on-error skip; "
                    "with the default (fail) the first bad record stops the run")
    try:
        config = BatchConfig(options.batch_nt, options.window_records, options.window_nt, options.chunk_nt)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    spec = resolve_output(options.output, options.fmt)
    _check_inputs(options.inputs)
    # Genome + annotation input (docs/GENOME.md): parsed and checked before the model loads.
    from rnaloc_infer.cli import genome_options

    annotation = options.annotation or AnnotationOptions()
    genome_options.check_usage(options.inputs, annotation)
    if spec.fmt in GENOME_FORMATS and not annotation.annotation:
        raise click.UsageError(f"--format {spec.fmt} needs transcript coordinates: use it with --annotation")
    model_path = resolve_model(options.model)
    refuse_overwrite(
        [("output", options.output), ("errors file", options.errors_file), ("metadata file", _sidecar_target(options, spec))],
        [("input", path) for path in options.inputs] + genome_options.input_files(options.inputs, annotation)
        + [("model", model_path), ("model", twin_file(model_path, "fp16")), ("model", twin_file(model_path, "int8"))],
    )
    if options.engine == "ray":
        return _run_ray(options, annotation, spec)
    source = genome_options.open_source(options.inputs[0], annotation) if annotation.annotation else None
    if source is None:
        genome_options.warn_if_genome(options.inputs)
    with contextlib.ExitStack() as stack:
        if source is not None:
            stack.callback(source.close)
        _predict_local(options, config, spec, model_path, source)
    return EXIT_OK


def _predict_local(options: RunOptions, config: "BatchConfig", spec: "OutputSpec", model_path, source) -> None:
    """The local engine: stream records through the model into the writer, then the sidecar."""
    from rnaloc_infer.batching import Scored, predict_stream
    from rnaloc_infer.cli.progress import RunProgress, input_bytes
    from rnaloc_infer.fasta import ReadMeter, read_fasta
    from rnaloc_infer.output.formats import make_writer
    from rnaloc_infer.output.sidecar import model_identity, record_fields
    from rnaloc_infer.output.summary import RunSummary
    from rnaloc_infer.parallel import worker_count
    from rnaloc_infer.profile import ProfileRow, profile_columns, require_prevalence
    from rnaloc_infer.session import ModelSession
    from rnaloc_infer.writers import SkipReport, atomic_output

    reduced = options.precision == "auto"
    session = ModelSession(model_path, device=options.device, prefer_fp16=reduced, prefer_int8=reduced)
    workers = worker_count(options.threads, session.device)
    info = session.info
    profile_row = ProfileRow(require_prevalence(model_path, info.prevalence)) if options.profile else None
    log.debug("model %s: classes %s, thresholds %s, providers %s, %d worker thread(s)", model_path, info.classes,
              info.thresholds, session.providers, workers)
    model = model_identity(options.model, model_path, info)

    summary = RunSummary(info.classes)
    meter = ReadMeter()
    progress = RunProgress(
        enabled=options.progress, meter=meter,
        total_bytes=None if source is not None else input_bytes(options.inputs),
        total_records=len(source) if source is not None else None,
    )
    with contextlib.ExitStack() as stack:
        stack.callback(progress.close)
        out = stack.enter_context(atomic_output(spec.path, compress=spec.gzip))
        skipped = SkipReport.to_file(stack, options.errors_file)
        annotation_columns = list(source.columns) if source is not None else []
        extra_columns = annotation_columns + (profile_columns(info.classes) if options.profile else [])
        writer = make_writer(spec.fmt, out, info.classes, info.thresholds, extra_columns=extra_columns,
                             record_fields=record_fields(model), name=spec.name)
        records = source if source is not None else read_fasta(options.inputs, meter=meter)
        for item in predict_stream(records, session, config, on_error=options.on_error, progress=progress.update,
                                  workers=workers):
            if isinstance(item, Scored) and item.applicability:
                if options.out_of_range == "drop":
                    summary.drop(item.applicability)
                    continue
                if options.out_of_range == "error":
                    summary.flag(item.applicability)
                    item = out_of_range_error(item)
                    if options.on_error == "fail":
                        raise item.to_exception()
            if isinstance(item, Scored):
                extra = [source.fields[item.id][c] for c in annotation_columns] if source is not None else []
                if profile_row is not None:
                    extra += profile_row(item.probs)
                labels = writer.write(item.id, item.length, item.probs, extra, applicability=item.applicability)
                summary.add(item.length, labels, item.applicability)
            else:
                skipped.add(item)
                summary.skip()
        if summary.records == 0 and summary.skipped + summary.dropped:
            raise NoResults(nothing_left_message({"skipped": summary.skipped, "dropped": summary.dropped}, options))
        writer.finish()
        summary.finish()
        # The sidecar is renamed into place before the output, so a pipeline that waits for
        # the output file finds its metadata already there.
        _write_sidecar(options, spec, model, writer.columns, summary, engine="local")
    skipped.finish()
    _log_summary(options, summary, scored=progress.records)


def out_of_range_error(item: "Scored") -> "RecordError":
    """--out-of-range error: a flagged record becomes a bad record (stops the run, or is
    skipped and listed with --on-error skip)."""
    from rnaloc_infer.fasta import RecordError

    problem = f"outside the model's training range ({','.join(item.applicability or ())}; --out-of-range error)"
    return RecordError(item.source, item.number, item.id, problem)


def nothing_left_message(counts: dict, options: RunOptions) -> str:
    """Why a run produced no row at all, for the NoResults error (exit 5)."""
    from rnaloc_infer.writers import MAX_ERRORS_SHOWN

    parts = []
    if counts["skipped"]:
        parts.append(f"{counts['skipped']:,} skipped as bad records"
                     + (" or outside the model's range (--out-of-range error)" if options.out_of_range == "error" else "")
                     + (", listed in the messages above" if counts["skipped"] <= MAX_ERRORS_SHOWN else ""))
    if counts["dropped"]:
        parts.append(f"{counts['dropped']:,} dropped by --out-of-range drop (outside the model's training range)")
    total = counts["skipped"] + counts["dropped"]
    return f"no results: all {total:,} records were left out ({'; '.join(parts)}); no output written"


def _sidecar_target(options: RunOptions, spec: "OutputSpec") -> Optional[str]:
    """--metadata PATH, else OUTPUT.json beside a file output; none for standard output."""
    from rnaloc_infer.output.sidecar import sidecar_path

    if options.metadata:
        return options.metadata
    if spec.path is None or not os.path.isfile(spec.path) and os.path.exists(spec.path):
        return None  # standard output, or a special file such as /dev/null
    return sidecar_path(spec.path)


def _options_record(options: RunOptions) -> dict:
    """The options as the sidecar records them (inputs and output have their own entries)."""
    record = asdict(options)
    for key in ("inputs", "output", "progress", "metadata"):
        record.pop(key, None)
    return record


def _write_sidecar(options: RunOptions, spec: "OutputSpec", model: dict, columns, summary, *, engine: str) -> None:
    from rnaloc_infer.output.sidecar import run_metadata, write_sidecar

    target = _sidecar_target(options, spec)
    if target is None:
        return
    annotation = options.annotation.annotation if options.annotation else None
    write_sidecar(target, run_metadata(model=model, inputs=options.inputs, output=spec, columns=columns,
                                       options={**_options_record(options), "fmt": spec.fmt}, summary=summary, engine=engine,
                                       annotation=annotation))


def _log_summary(options: RunOptions, summary, scored: int) -> None:
    """The closing stderr lines: warnings about what was left out, then the run summary."""
    if summary.records == 0 and summary.skipped == 0 and summary.dropped == 0:
        log.warning("no records found in %s", ", ".join(options.inputs))
    if summary.flagged:
        log.warning("%s of %s records are outside the model's training range (applicability column%s)",
                    f"{summary.flagged:,}", f"{scored:,}",
                    {"drop": "; dropped", "error": "; reported as errors"}.get(options.out_of_range, ""))
    for line in summary.lines():
        log.info("%s", line)


def _run_ray(options: RunOptions, annotation: AnnotationOptions, spec: "OutputSpec") -> int:
    """--engine ray: the same runtime on Ray Data (docs/DISTRIBUTED.md); same output file."""
    if annotation.annotation:
        raise click.UsageError("--annotation (genome input) works with --engine local only")
    if "-" in options.inputs:
        raise click.UsageError("--engine ray reads files only, not standard input ('-')")
    if options.out_of_range != "keep":
        raise click.UsageError("--out-of-range drop|error works with --engine local only (the ray engine keeps and flags)")
    if options.precision != "auto":
        raise click.UsageError("--precision fp32 works with --engine local only (ray workers run as --precision auto)")
    from rnaloc_infer.distributed.engine import predict_distributed

    def sidecar(model: dict, columns, summary) -> None:
        _write_sidecar(options, spec, model, columns, summary, engine="ray")

    result = predict_distributed(
        options.inputs, spec.path, model=options.model, fmt=spec.fmt, compress=spec.gzip, address=options.address,
        num_workers=options.num_workers, num_gpus_per_worker=options.num_gpus_per_worker,
        threads_per_worker=options.threads or 1, on_error=options.on_error, errors_file=options.errors_file,
        batch_nt=options.batch_nt, chunk_nt=options.chunk_nt, progress=options.progress, before_commit=sidecar,
        profile=options.profile,
    )
    _log_summary(options, result.run, scored=result.run.records)
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
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU cores to use (threads running model calls side by side). Default: every core this process may use (CPU affinity and cgroup quota; docs/PERFORMANCE.md).")
@click.option("--precision", type=click.Choice(["auto", "fp32"]), default="auto", show_default=True,
              help="auto: run the model's int8 twin on the CPU (fp16 on CUDA) when it ships one, faster and within 0.01 of fp32 (docs/EXPORT.md); fp32: the model file itself.")
@click.option("--batch-nt", type=click.IntRange(min=1), default=RunOptions.batch_nt, show_default=True, help="Padded nucleotides per model call (batch size x longest record).")
@click.option("--window-records", type=click.IntRange(min=1), default=RunOptions.window_records, show_default=True, help="Look-ahead window for length sorting: records.")
@click.option("--window-nt", type=click.IntRange(min=1), default=RunOptions.window_nt, show_default=True, help="Look-ahead window for length sorting: nucleotides.")
@click.option("--chunk-nt", type=click.IntRange(min=1), default=RunOptions.chunk_nt, show_default=True, help="Records longer than this are processed in exact chunks (rounded to the model stride).")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True, help="Bad record: stop with an error, or report it and go on.")
@click.option("--errors-file", metavar="PATH", default=None, help="With --on-error skip: TSV of skipped records (source, record_number, id, problem).")
@click.option("--out-of-range", type=click.Choice(["keep", "drop", "error"]), default="keep", show_default=True,
              help="Records outside the model's training range (applicability column not 'ok'): keep them "
                   "flagged, leave them out, or treat them as bad records (see --on-error).")
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
@click.version_option(__version__, "--version", prog_name="rnaloc-infer")
def main(inputs, output, model, fmt, metadata, device, threads, precision, batch_nt, window_records, window_nt, chunk_nt, on_error, errors_file, out_of_range, profile, quiet, debug,
         engine, address, num_workers, num_gpus_per_worker, **annotation) -> None:
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
        annotation=AnnotationOptions(**annotation),
        engine=engine, address=address, num_workers=num_workers, num_gpus_per_worker=num_gpus_per_worker,
    )
    exit_with_status(lambda: run(options), debug=debug, stopped="no output written", broken_pipe=_quiet_broken_pipe)


if __name__ == "__main__":  # pragma: no cover
    main()
