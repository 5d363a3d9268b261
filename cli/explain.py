"""`rnaloc-explain`: which part of a transcript drives each localisation call.

Exact in-silico mutagenesis (every point mutation scored, rnaloc_infer.explain) of selected
transcripts, from FASTA or from a genome + annotation, written per transcript as bedGraph
tracks, a compressed array, a picture and a table of top regions (docs/EXPLAIN.md).
A separate command rather than a mode of `rnaloc-infer`: its output is a directory of files
per transcript, not one table, and it costs ~length² model work per transcript.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import click

from rnaloc_infer import __version__
from rnaloc_infer.cli.genome_options import AnnotationOptions, annotation_options
from rnaloc_infer.cli.common import (THREADS_HELP, configure_logging, exit_with_status, run_path_options,
                                     warn_errors_file_without_skip)
from rnaloc_infer.cli.predict import _check_inputs
from rnaloc_infer.errors import EXIT_OK, RnalocError
from rnaloc_infer.explain.ism import DEFAULT_MAX_LENGTH
from rnaloc_infer.fasta import Record
from rnaloc_infer.output.run import RunOptions

log = logging.getLogger("rnaloc_infer.cli")

EPILOG = """\b
Writes OUT_DIR/<directory>/: ism.npz (delta[i, b, class], bases A C G T), regions.tsv,
ism.png, <class>.mean.bedgraph and <class>.min.bedgraph (transcript coordinates) and, with
--annotation, genome/<class>.*.bedgraph (genome coordinates). <directory> is the record id
made file-system safe and unique (x/y -> x_y.<hash>); OUT_DIR/index.tsv lists id -> directory.
OUT_DIR/predictions.tsv is this run's table, the rows rnaloc-infer --precision fp32 writes for
the same records (replaced by each run, as rnaloc-infer -o; run metadata in
predictions.tsv.json). An existing OUT_DIR/<directory> is refused unless --force, which
replaces only these files in it; nothing else is ever deleted or replaced, and no input is
written. Bad records, --on-error, --errors-file and --out-of-range work as in rnaloc-infer
(a record longer than --max-length and a repeated id are bad records).
\b
Exit status: 0 success (with --on-error skip: bad records reported, the rest explained);
1 bad input, too long a record or unusable model; 2 usage error, or an output refused
(exists without --force, or holds an input; nothing written); 3 output could not be written
(OUT_DIR not writable, a file or symlink where a directory must go); 4 internal error;
5 no results: every record was skipped or dropped (no table); 130/143 interrupted/terminated.
"""


def _parse_ids(value: Optional[str]) -> Optional[List[str]]:
    if not value:
        return None
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    return [item.strip() for item in value.split(",") if item.strip()]


def _select(records, ids: Optional[List[str]], max_length: int) -> list:
    """The wanted records in input order, each a ``Record`` or a ``RecordError``: a bad record,
    one longer than --max-length and a repeated id are bad records for the run path (the run
    stops, or with --on-error skip they are listed and left out), as in ``rnaloc-infer``."""
    from rnaloc_infer.explain import length_problem
    from rnaloc_infer.fasta import RecordError

    chosen = []
    seen: Dict[str, int] = {}
    wanted = set(ids) if ids else None
    for item in records:
        if wanted is not None and item.id not in wanted:
            continue
        if not isinstance(item, RecordError):
            problem = length_problem(item.length, max_length, "--max-length")
            if problem is None and item.id in seen:
                problem = (f"duplicate id (also record #{seen[item.id]}): rnaloc-explain writes one directory per id; "
                           "rename one of them")
            if problem:
                item = RecordError(item.source, item.number, item.id, problem)
            else:
                seen[item.id] = item.number
        chosen.append(item)
    if wanted is not None:
        missing = sorted(wanted - {item.id for item in chosen})
        if missing:
            raise RnalocError(f"--ids: no record {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} in the input")
    return chosen


def _inputs(inputs: Sequence[str], annotation: AnnotationOptions, ids: Optional[str], model_path: Path) -> list:
    """Every file the run reads, named for the checks that explain never writes onto an input
    nor into a directory that holds one."""
    from rnaloc_infer.cli import genome_options
    from rnaloc_infer.explain.numpy_model import companion_path

    named = [("input", path) for path in inputs] + genome_options.input_files(inputs, annotation)
    if ids and os.path.isfile(ids):
        named.append(("--ids file", ids))
    return named + [("model", model_path), ("model", companion_path(model_path))]


@dataclass
class ExplainOptions:
    """What explain does beyond a prediction run (:class:`RunOptions` holds the rest)."""

    out_dir: str
    ids: Optional[str] = None
    max_length: int = DEFAULT_MAX_LENGTH
    tolerance: float = 0.0
    region_nt: int = 20
    top_regions: int = 5
    plot: bool = True
    force: bool = False
    intra_op_threads: Optional[int] = None

    def record(self) -> Dict[str, object]:
        """As the sidecar lists them, beside the run's options."""
        return asdict(self)


def run_options(inputs: Sequence[str], out_dir: str, **options) -> RunOptions:
    """The run path's options of an explain run: its table is OUT_DIR/predictions.tsv (tsv,
    sidecar beside it), scored by the fp32 model itself (what the explanation explains)."""
    from rnaloc_infer.explain.dirnames import TABLE_NAME

    return RunOptions(inputs=list(inputs), output=os.path.join(out_dir, TABLE_NAME), precision="fp32", **options)


def run(options: RunOptions, explain: ExplainOptions) -> int:
    """Explain every selected record; returns the exit status.

    The records go through the run path (rnaloc_infer.output.run) as in ``rnaloc-infer``:
    bad records, --on-error, --errors-file, --out-of-range, the table OUT_DIR/predictions.tsv
    with its sidecar and the summary; each record the run path keeps is then explained into
    its own directory. Every output check (docs/EXPLAIN.md, "Where the files go") is made
    before the model runs, and every record is judged before the first is explained."""
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.cli import genome_options
    from rnaloc_infer.explain.outdir import plan_outputs
    from rnaloc_infer.fasta import read_fasta
    from rnaloc_infer.output.run import resolve_run_output

    annotation = options.annotation or AnnotationOptions()
    _check_inputs(options.inputs)
    genome_options.check_usage(options.inputs, annotation)
    if annotation.annotation and explain.ids:
        raise click.UsageError("with --annotation select transcripts with --transcripts or --genes, not --ids")
    if explain.plot:
        from rnaloc_infer.explain.plot import require_matplotlib

        try:
            require_matplotlib()
        except ImportError as exc:
            raise RnalocError(f"{exc} (--no-plot)") from None
    source = genome_options.open_source(options.inputs[0], annotation) if annotation.annotation else None
    try:
        items = _select(source if source is not None else read_fasta(options.inputs), _parse_ids(explain.ids),
                        explain.max_length)
    finally:
        if source is not None:
            source.close()
    if not items:
        log.warning("no records to explain")
        return EXIT_OK
    model_path = resolve_model(options.model)
    named_inputs = _inputs(options.inputs, annotation, explain.ids, model_path)
    plan = plan_outputs(explain.out_dir, [r.id for r in items if isinstance(r, Record)], force=explain.force,
                        inputs=named_inputs)
    spec = resolve_run_output(options, named_inputs, create_dir=True)
    _explain(options, explain, items, plan, spec, model_path, source, named_inputs)
    return EXIT_OK


def _explain(options: RunOptions, explain: ExplainOptions, items: list, plan, spec, model_path: Path, source,
             named_inputs: list) -> None:
    """Score the selected records into the run path, then explain each one it keeps."""
    from tqdm import tqdm

    from rnaloc_infer.batching import BatchConfig, predict_stream
    from rnaloc_infer.explain import explain_codes
    from rnaloc_infer.explain.outdir import check_files
    from rnaloc_infer.explain.report import GenomeMap, report_files, write_report
    from rnaloc_infer.modelfile.identity import describe_model
    from rnaloc_infer.output.run import open_run
    from rnaloc_infer.output.sidecar import model_identity
    from rnaloc_infer.parallel import worker_count
    from rnaloc_infer.session import ModelSession

    maps: Dict[str, GenomeMap] = {}
    if source is not None:
        maps = {t.transcript_id: GenomeMap(t.chrom, t.strand, tuple(t.exons)) for t in source.transcripts}
    session = ModelSession(model_path, device=options.device, intra_op_threads=explain.intra_op_threads,
                           prefer_fp16=False, prefer_int8=False)
    workers = worker_count(options.threads, session.device)
    info = session.info
    records = {item.id: item for item in items if isinstance(item, Record)}
    check_files(plan, {i: report_files(info.classes, genome=i in maps, plot=explain.plot) for i in records}, named_inputs)
    model_id = describe_model(options.model, model_path, info)  # name, version, short sha256: the PNG title, track lines
    config = BatchConfig(options.batch_nt, options.window_records, options.window_nt, options.chunk_nt)
    columns = list(source.columns) if source is not None else []
    fields = (lambda record_id: [source.fields[record_id][c] for c in columns]) if source is not None else None
    with open_run(options, spec, model_identity(options.model, model_path, info), info.classes, info.thresholds,
                  class_prevalence=info.prevalence, annotation_columns=columns, annotation_fields=fields,
                  tool="rnaloc-explain", command_options=explain.record(), create_dir=True) as run_path:
        # every record judged (bad, out of range) before the first is explained
        kept = [item for item in predict_stream(items, session, config, on_error="skip", workers=workers)
                if run_path.add(item)]
        log.info("explaining %d record(s) with model %s", len(kept), model_id)
        done: List[str] = []
        total = sum(3 * r.length + int((records[r.id].codes >= 4).sum()) for r in kept)
        with tqdm(total=total, unit="variant", unit_scale=True, desc="explaining", file=sys.stderr, dynamic_ncols=True,
                  disable=not options.progress or not sys.stderr.isatty()) as bar:
            for scored in kept:
                record = records[scored.id]
                explanation = explain_codes(session, record.codes, tolerance=explain.tolerance, workers=workers,
                                            progress=bar.update)
                where = write_report(plan.folder(record.id), record.id, record.header, explanation, info.classes,
                                     info.thresholds, model_id, create=record.id not in plan.existing,
                                     genome=maps.get(record.id), region_nt=explain.region_nt, top=explain.top_regions,
                                     plot=explain.plot, applicability=scored.applicability, prevalence=info.prevalence)
                done.append(record.id)
                plan.write_index(done)
                log.info("%s: %s nt explained -> %s", record.id, f"{record.length:,}", where)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--out-dir", required=True, metavar="DIR", help="Directory for the per-transcript directories, index.tsv and predictions.tsv (created).")
@click.option("--ids", metavar="LIST|FILE", default=None, help="FASTA input: explain only these record ids (comma list or file). Default: all.")
@click.option("--model", default="default", show_default=True, metavar="NAME|PATH", help="Bundled model name or path to an .onnx file.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, help="auto = CUDA when onnxruntime-gpu sees a GPU, else CPU.")
@click.option("--threads", "--workers", "threads", type=click.IntRange(min=1), default=None,
              help=THREADS_HELP + " In the numpy engine a thread runs a block of variants. --workers: its former name.")
@click.option("--intra-op-threads", type=click.IntRange(min=1), default=None,
              help="ONNX Runtime threads inside each model call (default 1; more cores go further as --threads).")
@click.option("--max-length", type=click.IntRange(min=1), default=DEFAULT_MAX_LENGTH, show_default=True, help="Longer transcripts are bad records (the work grows with length squared).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.0, show_default=True, help="ONNX Runtime path only (models without a numpy companion; the numpy engine is exact): stop following a mutation when the model's recurrent states differ from the reference's by at most this (0: exact, bit-equal).")
@click.option("--region-nt", type=click.IntRange(min=1), default=20, show_default=True, help="Width of the top regions (regions.tsv, picture).")
@click.option("--top-regions", type=click.IntRange(min=1), default=5, show_default=True, help="Top regions per class.")
@run_path_options
@click.option("--no-plot", is_flag=True, help="No PNG (no matplotlib needed).")
@click.option("--force", is_flag=True,
              help="Write into existing OUT_DIR/<directory>s, replacing only explain's own files there (default: refuse).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, no summary; errors only.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@annotation_options
@click.version_option(__version__, "--version", prog_name="rnaloc-explain")
def main(inputs, out_dir, ids, model, device, threads, intra_op_threads, max_length, tolerance, region_nt, top_regions,
         on_error, errors_file, out_of_range, no_plot, force, quiet, debug, **kwargs) -> None:
    """Explain localisation predictions by exact in-silico mutagenesis.

    INPUT is a FASTA file of transcripts, or with --annotation a genome FASTA (select
    transcripts with --transcripts / --genes). For every position and every substitution
    the change in each class's probability is computed exactly (docs/EXPLAIN.md).
    """
    configure_logging("rnaloc-explain", quiet, debug)
    warn_errors_file_without_skip(on_error, errors_file)
    options = run_options(inputs, out_dir, model=model, device=device, threads=threads, on_error=on_error,
                          errors_file=errors_file, out_of_range=out_of_range, progress=not quiet,
                          annotation=AnnotationOptions(**kwargs))
    explain = ExplainOptions(out_dir=out_dir, ids=ids, max_length=max_length, tolerance=tolerance, region_nt=region_nt,
                             top_regions=top_regions, plot=not no_plot, force=force, intra_op_threads=intra_op_threads)
    exit_with_status(lambda: run(options, explain), debug=debug,
                     stopped="finished transcripts are complete, the current one was not written")


if __name__ == "__main__":  # pragma: no cover
    main()
