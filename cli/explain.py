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
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import click

from rnaloc_infer import __version__
from rnaloc_infer.cli.genome_options import AnnotationOptions, annotation_options
from rnaloc_infer.cli.common import configure_logging, exit_with_status
from rnaloc_infer.cli.predict import _check_inputs
from rnaloc_infer.errors import EXIT_OK, InputError, OutputError, RnalocError
from rnaloc_infer.explain.ism import DEFAULT_MAX_LENGTH

log = logging.getLogger("rnaloc_infer.cli")

EPILOG = """\b
Writes OUT_DIR/<directory>/: ism.npz (delta[i, b, class], bases A C G T), regions.tsv,
ism.png, <class>.mean.bedgraph and <class>.min.bedgraph (transcript coordinates) and, with
--annotation, genome/<class>.*.bedgraph (genome coordinates). <directory> is the record id
made file-system safe and unique (x/y -> x_y.<hash>); OUT_DIR/index.tsv lists id -> directory.
An existing OUT_DIR/<directory> is refused unless --force, which replaces only these files in
it; nothing else is ever deleted or replaced, and no input is written.
\b
Exit status: 0 success; 1 bad input, too long a record or unusable model; 2 usage error, or
an output refused (exists without --force, or holds an input; nothing written); 3 output
could not be written (OUT_DIR not writable, a file or symlink where a directory must go);
4 internal error; 130/143 interrupted/terminated.
"""


def _parse_ids(value: Optional[str]) -> Optional[List[str]]:
    if not value:
        return None
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    return [item.strip() for item in value.split(",") if item.strip()]


def _select(records, ids: Optional[List[str]], max_length: int) -> list:
    """The wanted records, all checked before any model work (errors name the record)."""
    from rnaloc_infer.explain import length_problem
    from rnaloc_infer.fasta import RecordError

    chosen = []
    seen: Dict[str, int] = {}
    wanted = set(ids) if ids else None
    for item in records:
        if isinstance(item, RecordError):
            if wanted is None or item.id in wanted:
                raise item.to_exception()
            continue
        if wanted is not None and item.id not in wanted:
            continue
        problem = length_problem(item.length, max_length, "--max-length")
        if problem:
            raise InputError(item.source, problem, item.id, item.number)
        if item.id in seen:
            raise InputError(item.source, f"duplicate id (also record #{seen[item.id]}): rnaloc-explain writes one "
                             "directory per id; rename one of them", item.id, item.number)
        seen[item.id] = item.number
        chosen.append(item)
    if wanted is not None:
        missing = sorted(wanted - {r.id for r in chosen})
        if missing:
            raise RnalocError(f"--ids: no record {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} in the input")
    return chosen


def _applicability(records: list, rules, out_of_range: str) -> Dict[str, Optional[tuple]]:
    """Each record's flags under the model's applicability rules (as `rnaloc-infer` sets them),
    all checked before any work: ``error`` stops at the first flagged record, ``keep`` warns."""
    flags: Dict[str, Optional[tuple]] = {}
    for record in records:
        found = None if rules is None else rules.check(record.codes, record.ambiguous)
        flags[record.id] = found
        if found and out_of_range == "error":
            raise InputError(record.source, f"outside the model's training range ({','.join(found)}; --out-of-range error)",
                             record.id, record.number)
        if found:
            log.warning("%s is outside the model's training range (%s): its explanation explains an extrapolation",
                        record.id, ",".join(found))
    return flags


def _inputs(inputs: Sequence[str], annotation: AnnotationOptions, ids: Optional[str], model_path: Path) -> list:
    """Every file the run reads, named for the checks that explain never writes onto an input
    nor into a directory that holds one."""
    from rnaloc_infer.cli import genome_options
    from rnaloc_infer.explain.numpy_model import companion_path

    named = [("input", path) for path in inputs] + genome_options.input_files(inputs, annotation)
    if ids and os.path.isfile(ids):
        named.append(("--ids file", ids))
    return named + [("model", model_path), ("model", companion_path(model_path))]


def run(inputs: Sequence[str], out_dir: str, model: str, device: str, intra_op_threads: Optional[int], workers: int,
        ids: Optional[str], max_length: int, tolerance: float, region_nt: int, top_regions: int, plot: bool,
        progress: bool, annotation: AnnotationOptions, out_of_range: str = "keep", force: bool = False) -> int:
    """Explain every selected record; returns the exit status.

    Every output check (docs/EXPLAIN.md, "Where the files go") is made before the model
    runs: OUT_DIR and each record's directory (explain.outdir), then, once the model's
    classes name the files, no file in the way and none that is an input."""
    from tqdm import tqdm

    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.cli import genome_options
    from rnaloc_infer.explain import explain_codes
    from rnaloc_infer.explain.outdir import check_files, plan_outputs
    from rnaloc_infer.explain.report import GenomeMap, report_files, write_report
    from rnaloc_infer.fasta import read_fasta
    from rnaloc_infer.modelfile.identity import describe_model
    from rnaloc_infer.session import ModelSession

    _check_inputs(inputs)
    genome_options.check_usage(inputs, annotation)
    if annotation.annotation and ids:
        raise click.UsageError("with --annotation select transcripts with --transcripts or --genes, not --ids")
    if plot:
        from rnaloc_infer.explain.plot import require_matplotlib

        try:
            require_matplotlib()
        except ImportError as exc:
            raise RnalocError(f"{exc} (--no-plot)") from None
    source = genome_options.open_source(inputs[0], annotation) if annotation.annotation else None
    maps: Dict[str, GenomeMap] = {}
    try:
        if source is not None:
            maps = {t.transcript_id: GenomeMap(t.chrom, t.strand, tuple(t.exons)) for t in source.transcripts}
        records = _select(source if source is not None else read_fasta(inputs), _parse_ids(ids), max_length)
    finally:
        if source is not None:
            source.close()
    if not records:
        log.warning("no records to explain")
        return EXIT_OK
    model_path = resolve_model(model)
    named_inputs = _inputs(inputs, annotation, ids, model_path)
    plan = plan_outputs(out_dir, [r.id for r in records], force=force, inputs=named_inputs)
    session = ModelSession(model_path, device=device, intra_op_threads=intra_op_threads, prefer_fp16=False,
                           prefer_int8=False)
    info = session.info
    check_files(plan, {r.id: report_files(info.classes, genome=r.id in maps, plot=plot) for r in records}, named_inputs)
    flags = _applicability(records, info.applicability, out_of_range)
    model_id = describe_model(model, model_path, info)  # name, version, short sha256: the PNG title, track lines
    log.info("explaining %d record(s) with model %s", len(records), model_id)
    try:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {plan.out_dir}: {exc.strerror or exc}") from None
    done: List[str] = []
    total = sum(3 * r.length + int((r.codes >= 4).sum()) for r in records)
    with tqdm(total=total, unit="variant", unit_scale=True, desc="explaining", file=sys.stderr, dynamic_ncols=True,
              disable=not progress or not sys.stderr.isatty()) as bar:
        for record in records:
            explanation = explain_codes(session, record.codes, tolerance=tolerance, workers=workers, progress=bar.update)
            where = write_report(plan.folder(record.id), record.id, record.header, explanation, info.classes,
                                 info.thresholds, model_id, create=record.id not in plan.existing,
                                 genome=maps.get(record.id), region_nt=region_nt, top=top_regions, plot=plot,
                                 applicability=flags[record.id], prevalence=info.prevalence)
            done.append(record.id)
            plan.write_index(done)
            log.info("%s: %s nt explained -> %s", record.id, f"{record.length:,}", where)
    return EXIT_OK


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EPILOG)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--out-dir", required=True, metavar="DIR", help="Directory for the per-transcript directories and index.tsv (created).")
@click.option("--ids", metavar="LIST|FILE", default=None, help="FASTA input: explain only these record ids (comma list or file). Default: all.")
@click.option("--model", default="default", show_default=True, metavar="NAME|PATH", help="Bundled model name or path to an .onnx file.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, help="auto = CUDA when onnxruntime-gpu sees a GPU, else CPU.")
@click.option("--threads", "--workers", "workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPU cores to use, as rnaloc-infer --threads: threads running model calls, or blocks of variants in the "
                   "numpy engine, side by side (2 = both cores of a 2-core machine). --workers: its former name.")
@click.option("--intra-op-threads", type=click.IntRange(min=1), default=None,
              help="ONNX Runtime threads inside each model call (default 1; more cores go further as --threads).")
@click.option("--max-length", type=click.IntRange(min=1), default=DEFAULT_MAX_LENGTH, show_default=True, help="Refuse longer transcripts (the work grows with length squared).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.0, show_default=True, help="ONNX Runtime path only (models without a numpy companion; the numpy engine is exact): stop following a mutation when the model's recurrent states differ from the reference's by at most this (0: exact, bit-equal).")
@click.option("--region-nt", type=click.IntRange(min=1), default=20, show_default=True, help="Width of the top regions (regions.tsv, picture).")
@click.option("--top-regions", type=click.IntRange(min=1), default=5, show_default=True, help="Top regions per class.")
@click.option("--out-of-range", type=click.Choice(["keep", "error"]), default="keep", show_default=True,
              help="Records the model's applicability rules flag (as in rnaloc-infer): explain them with a warning, or stop.")
@click.option("--no-plot", is_flag=True, help="No PNG (no matplotlib needed).")
@click.option("--force", is_flag=True,
              help="Write into existing OUT_DIR/<directory>s, replacing only explain's own files there (default: refuse).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar; errors only.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@annotation_options
@click.version_option(__version__, "--version", prog_name="rnaloc-explain")
def main(inputs, out_dir, ids, model, device, workers, intra_op_threads, max_length, tolerance, region_nt, top_regions, out_of_range,
         no_plot, force, quiet, debug, **kwargs) -> None:
    """Explain localisation predictions by exact in-silico mutagenesis.

    INPUT is a FASTA file of transcripts, or with --annotation a genome FASTA (select
    transcripts with --transcripts / --genes). For every position and every substitution
    the change in each class's probability is computed exactly (docs/EXPLAIN.md).
    """
    configure_logging("rnaloc-explain", quiet, debug)
    annotation = AnnotationOptions(**kwargs)
    exit_with_status(lambda: run(list(inputs), out_dir, model, device, intra_op_threads, workers, ids, max_length, tolerance,
                                 region_nt, top_regions, not no_plot, not quiet, annotation, out_of_range, force),
                     debug=debug, stopped="finished transcripts are complete, the current one was not written")


if __name__ == "__main__":  # pragma: no cover
    main()
