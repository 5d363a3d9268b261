"""``rnaloc-train evaluate``: score an exported model on a labelled FASTA.

Why it runs through the runtime :class:`~rnaloc_infer.api.Predictor` (ONNX Runtime, no
torch): the figures must describe the artefact users actually run, including its
metadata thresholds, not the PyTorch module it was exported from.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import click
import numpy as np

from rnaloc_infer.cli.common import (HELP_OPTION_NAMES, THREADS_HELP, configure_logging, exit_with_status,
                                     run_path_options, warn_errors_file_without_skip)
from rnaloc_infer.output.run import RunOptions

if TYPE_CHECKING:
    from rnaloc_infer.evaluation.labels import Labels

log = logging.getLogger(__name__)

# every file an evaluation may write into its folder (a rerun refuses them without --force)
CARD_FILES = ("metrics.tsv", "specificity.tsv", "specificity_profile.tsv", "roc.png", "pr.png")
TABLE_NAME = "predictions.tsv"  # the command's per-record table (the run path's), and its sidecar
TABLE_FILES = (TABLE_NAME, TABLE_NAME + ".json")


def evaluation_options(model: str, fasta: os.PathLike, *, predictions: Optional[os.PathLike] = None,
                       **options: Any) -> RunOptions:
    """The run path's options of an evaluation: the records of ``fasta`` scored as
    ``rnaloc-infer`` scores them, their rows in ``predictions`` (None: no table, as for the
    model card of ``rnaloc-train release``; the policies still apply)."""
    return RunOptions(inputs=[str(fasta)], output=str(predictions) if predictions else os.devnull, model=model,
                      progress=False, **options)


def _without(labels: "Labels", ids: set) -> "Labels":
    """The labels less the rows of ``ids`` (bad records: never scored, so never matched)."""
    from rnaloc_infer.evaluation.labels import Labels

    keep = [i for i, rid in enumerate(labels.ids) if rid not in ids]
    return Labels([labels.ids[i] for i in keep], labels.classes, labels.y[keep])


def _figures(predictor, y: np.ndarray, scores: np.ndarray, thresholds: List[float], thresholds_mode: str):
    """The metrics table and the specificity figures of the kept records' scores."""
    from rnaloc_infer.evaluation.metrics import tune_thresholds
    from rnaloc_infer.evaluation.report import compute_table
    from rnaloc_infer.evaluation.specificity import specificity_report

    classes = list(predictor.classes)
    if thresholds_mode == "tuned":
        thresholds = tune_thresholds(y, scores)
        log.warning("thresholds tuned on this very set: MCC/F1 are optimistic")
    table = compute_table(y, scores, classes, thresholds)
    table.specificity = specificity_report(y, scores, classes)
    if predictor.info.prevalence is not None:  # the same figures on the rel_ columns of `rnaloc-infer --profile`
        table.profile_specificity = specificity_report(y, predictor.relative_profile(scores)[1], classes)
    return table


def run_evaluation(options: RunOptions, labels_tsv: Path, out_dir: Path, thresholds_mode: str = "model",
                   plots: bool = True):
    """Predict, match labels, compute and write the table, the specificity figures and the plots;
    returns the MetricsTable.

    Labels are matched before the model runs, so a wrong labels file fails in seconds; the
    records then go through the run path (rnaloc_infer.output.run) exactly as in
    `rnaloc-infer`: same reader, batching and session, the same bad-record rule
    (--on-error), --out-of-range policy, table, sidecar and summary. The figures describe
    the records the run path kept (a skipped or dropped record has no row and no score).
    """
    from rnaloc_infer.api import Predictor
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.evaluation.labels import match_labels, read_labels
    from rnaloc_infer.errors import InputError
    from rnaloc_infer.evaluation.report import write_tsv
    from rnaloc_infer.evaluation.specificity import write_specificity_tsv
    from rnaloc_infer.fasta import RecordError, read_fasta
    from rnaloc_infer.output.run import open_run, resolve_run_output
    from rnaloc_infer.output.sidecar import model_identity
    from rnaloc_infer.session import twin_file

    fasta = options.inputs[0]
    model_path = resolve_model(options.model)
    spec = resolve_run_output(options, [("FASTA", fasta), ("labels", labels_tsv), ("model", model_path),
                                        ("model", twin_file(model_path, "fp16")), ("model", twin_file(model_path, "int8"))],
                              create_dir=True)
    predictor = Predictor(model=options.model, device=options.device, threads=options.threads,
                          precision=options.precision, batch_nt=options.batch_nt, window_records=options.window_records,
                          window_nt=options.window_nt, chunk_nt=options.chunk_nt)
    classes, thresholds = list(predictor.classes), list(predictor.thresholds)
    labels = read_labels(labels_tsv, classes)
    items = list(read_fasta(fasta, warn_duplicates=False))  # duplicates: match_labels names them
    bad = {item.id for item in items if isinstance(item, RecordError)}
    good = [item.id for item in items if not isinstance(item, RecordError)]
    y_all = match_labels(good, _without(labels, bad), pred_source=str(fasta), label_source=str(labels_tsv))
    row_of = {rid: i for i, rid in enumerate(good)}
    log.info("predicting %d records with %s", len(good), options.model)
    command_options = {"labels": os.path.abspath(labels_tsv), "thresholds_mode": thresholds_mode,
                       "out_dir": os.path.abspath(out_dir), "plots": plots}
    with open_run(options, spec, model_identity(options.model, predictor.model_path, predictor.info), classes,
                  thresholds, class_prevalence=predictor.info.prevalence, tool="rnaloc-train evaluate",
                  command_options=command_options, create_dir=True) as run_path:
        kept = [item for item in predictor.score(items) if run_path.add(item)]
        y = y_all[[row_of[item.id] for item in kept]]
        scores = np.stack([item.probs for item in kept]).astype(np.float64) if kept else None
        # computed before the table is published: a failure here leaves no table without figures
        table = _figures(predictor, y, scores, thresholds, thresholds_mode) if kept else None
    if table is None:  # (every record skipped or dropped ended the run above: no results, exit 5)
        raise InputError(str(fasta), "no records to evaluate")
    write_tsv(table, out_dir / "metrics.tsv")
    write_specificity_tsv(table.specificity, out_dir / "specificity.tsv")
    if table.profile_specificity is not None:
        write_specificity_tsv(table.profile_specificity, out_dir / "specificity_profile.tsv")
    if plots:
        from rnaloc_infer.evaluation.plots import plot_curves

        plot_curves(y, scores, classes, out_dir, table=table, title=f"{Path(options.model).stem} on {Path(fasta).name}")
    return table


# -h from the start: a command invoked before `rnaloc-train` attaches it keeps the help option it first built
@click.command(context_settings={"help_option_names": HELP_OPTION_NAMES})
@click.argument("model")
@click.argument("fasta", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("labels_tsv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where metrics.tsv, specificity.tsv, roc.png, pr.png and predictions.tsv go (default: eval/<model name>).")
@click.option("--thresholds", "thresholds_mode", type=click.Choice(["model", "tuned"]), default="model",
              show_default=True,
              help="MCC/F1 at the model's metadata thresholds, or at thresholds chosen on these labels "
                   "by the training policy (MCC optimum; prevalence matching for a class with < 100 "
                   "positives or negatives; optimistic, for diagnosis only).")
@click.option("--no-plots", is_flag=True, help="Skip roc.png / pr.png.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help=THREADS_HELP)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["auto", "fp32"]), default="auto", show_default=True,
              help="auto: the model's int8 (CPU) / fp16 (CUDA) twin when it ships one, as rnaloc-infer runs it; fp32: the model file itself.")
@run_path_options
@click.option("--quiet", is_flag=True, help="Do not print the table; only warnings in the log.")
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@click.option("--force", is_flag=True, help="Replace the report files of an earlier evaluation in OUT_DIR.")
def evaluate(model: str, fasta: Path, labels_tsv: Path, out_dir: Optional[Path], thresholds_mode: str,
             no_plots: bool, threads: Optional[int], device: str, precision: str, on_error: str,
             errors_file: Optional[str], out_of_range: str, quiet: bool, debug: bool, force: bool) -> None:
    """Score MODEL (bundled name such as "default", or an .onnx path) on FASTA against LABELS_TSV.

    LABELS_TSV has an `id` column (first word of the FASTA header) and one 0/1 column per
    model class. Every FASTA id needs a label row and vice versa. Writes per-class AUROC,
    AUPRC, MCC and F1 plus macro means to OUT_DIR/metrics.tsv, ROC / PR curves as PNG, and
    to OUT_DIR/specificity.tsv whether the scores tell compartments apart or only count them
    (score correlations, AUROC of the sum of all scores, AUROC within records with 1, 2 and
    3+ labels, Nucleus-only vs Cytosol-only and Membrane-only vs ER-only, on probabilities and
    on log-odds; docs/MODEL_CARD.md), and the same figures for the relative profile of
    `rnaloc-infer --profile` to OUT_DIR/specificity_profile.tsv when the model has its training
    prevalence. OUT_DIR/predictions.tsv holds the rows rnaloc-infer writes for these records
    (run metadata in predictions.tsv.json). Bad records (--on-error, --errors-file) and
    records outside the model's range (--out-of-range) are handled as by rnaloc-infer; the
    figures describe the records that kept their row. Exit status as rnaloc-infer's: 0 success,
    1 bad input, 2 usage error or refused output, 3 output not writable, 4 internal error,
    5 no results (every record skipped or dropped).
    """
    configure_logging("rnaloc-train evaluate", False, debug)
    if quiet:
        logging.getLogger().setLevel(logging.WARNING)
    warn_errors_file_without_skip(on_error, errors_file)
    out_dir = out_dir or Path("eval") / Path(model).stem
    options = evaluation_options(model, fasta, predictions=out_dir / TABLE_NAME, threads=threads, device=device,
                                 precision=precision, on_error=on_error, errors_file=errors_file,
                                 out_of_range=out_of_range)
    exit_with_status(lambda: _evaluate(options, labels_tsv, out_dir, thresholds_mode, not no_plots, quiet, force),
                     debug=debug, stopped="no output written")


def _evaluate(options: RunOptions, labels_tsv: Path, out_dir: Path, thresholds_mode: str, plots: bool, quiet: bool,
              force: bool) -> int:
    """The command's work: refuse an earlier evaluation's files, evaluate, print the tables."""
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.cli.overwrite import check
    from rnaloc_infer.errors import EXIT_OK
    from rnaloc_infer.evaluation.report import format_table
    from rnaloc_infer.evaluation.specificity import format_report

    fasta = Path(options.inputs[0])
    check([("report", out_dir / name) for name in CARD_FILES + TABLE_FILES],
          [("model", resolve_model(options.model)), ("FASTA", fasta), ("labels", labels_tsv)], force)
    try:
        table = run_evaluation(options, labels_tsv, out_dir, thresholds_mode, plots=plots)
    except ImportError as exc:  # e.g. the runtime API is missing in a broken install
        raise click.ClickException(f"cannot load the runtime: {exc}") from None
    if not quiet:
        click.echo(format_table(table))
        click.echo(format_report(table.specificity))
        if table.profile_specificity is not None:
            click.echo("\nThe same on the relative profile (rnaloc-infer --profile: rel_<class> columns)")
            click.echo(format_report(table.profile_specificity))
        click.echo(f"wrote {out_dir / 'metrics.tsv'}, {out_dir / 'specificity.tsv'}"
                   + (f", {out_dir / 'specificity_profile.tsv'}" if table.profile_specificity is not None else "")
                   + f" and {out_dir / TABLE_NAME}")
    return EXIT_OK
