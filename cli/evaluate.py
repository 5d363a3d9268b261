"""``rnaloc-train evaluate``: score an exported model on a labelled FASTA.

Why it runs through the runtime :class:`~rnaloc_infer.api.Predictor` (ONNX Runtime, no
torch): the figures must describe the artefact users actually run, including its
metadata thresholds, not the PyTorch module it was exported from.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import click
import numpy as np

from rnaloc_infer.cli.common import HELP_OPTION_NAMES

if TYPE_CHECKING:
    from rnaloc_infer.fasta import Record

log = logging.getLogger(__name__)

# every file an evaluation may write into its folder (a rerun refuses them without --force)
CARD_FILES = ("metrics.tsv", "specificity.tsv", "specificity_profile.tsv", "roc.png", "pr.png")


def _read_records(path: Path) -> List[Record]:
    """The records of a FASTA file, read as `rnaloc-infer` reads them; a bad record is an error
    (every record needs a score for the figures to describe the whole set)."""
    from rnaloc_infer.fasta import RecordError, read_fasta

    records = []
    for item in read_fasta(path, warn_duplicates=False):  # duplicates: match_labels names them
        if isinstance(item, RecordError):
            raise item.to_exception()
        records.append(item)
    return records


def run_evaluation(model: str, fasta: Path, labels_tsv: Path, out_dir: Path, thresholds_mode: str = "model",
                   plots: bool = True, threads: Optional[int] = None, device: str = "auto", precision: str = "auto"):
    """Predict, match labels, compute and write the table, the specificity figures and the plots;
    returns the MetricsTable.

    Labels are matched before the model runs, so a wrong labels file fails in seconds; the
    records are then scored as read, exactly as `rnaloc-infer` scores them (same reader,
    batching and session).
    """
    from rnaloc_infer.api import Predictor
    from rnaloc_infer.evaluation.labels import match_labels, read_labels
    from rnaloc_infer.evaluation.metrics import tune_thresholds
    from rnaloc_infer.evaluation.report import compute_table, write_tsv
    from rnaloc_infer.evaluation.specificity import specificity_report, write_specificity_tsv

    predictor = Predictor(model=model, device=device, threads=threads, precision=precision)
    classes, thresholds = list(predictor.classes), list(predictor.thresholds)
    labels = read_labels(labels_tsv, classes)
    records = _read_records(fasta)
    y = match_labels([r.id for r in records], labels, pred_source=str(fasta), label_source=str(labels_tsv))
    log.info("predicting %d records with %s", len(records), model)
    scores = np.asarray(predictor.predict_records(records), dtype=np.float64)
    if thresholds_mode == "tuned":
        thresholds = tune_thresholds(y, scores)
        log.warning("thresholds tuned on this very set: MCC/F1 are optimistic")
    table = compute_table(y, scores, classes, thresholds)
    write_tsv(table, out_dir / "metrics.tsv")
    table.specificity = specificity_report(y, scores, classes)
    write_specificity_tsv(table.specificity, out_dir / "specificity.tsv")
    if predictor.info.prevalence is not None:  # the same figures on the rel_ columns of `rnaloc-infer --profile`
        table.profile_specificity = specificity_report(y, predictor.relative_profile(scores)[1], classes)
        write_specificity_tsv(table.profile_specificity, out_dir / "specificity_profile.tsv")
    if plots:
        from rnaloc_infer.evaluation.plots import plot_curves

        plot_curves(y, scores, classes, out_dir, table=table, title=f"{Path(model).stem} on {fasta.name}")
    return table


# -h from the start: a command invoked before `rnaloc-train` attaches it keeps the help option it first built
@click.command(context_settings={"help_option_names": HELP_OPTION_NAMES})
@click.argument("model")
@click.argument("fasta", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("labels_tsv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where metrics.tsv, specificity.tsv, roc.png and pr.png go (default: eval/<model name>).")
@click.option("--thresholds", "thresholds_mode", type=click.Choice(["model", "tuned"]), default="model",
              show_default=True,
              help="MCC/F1 at the model's metadata thresholds, or at thresholds chosen on these labels "
                   "by the training policy (MCC optimum; prevalence matching for a class with < 100 "
                   "positives or negatives; optimistic, for diagnosis only).")
@click.option("--no-plots", is_flag=True, help="Skip roc.png / pr.png.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU cores to use, as rnaloc-infer --threads (threads running model calls side by side). "
                   "Default: every core this process may use.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["auto", "fp32"]), default="auto", show_default=True,
              help="auto: the model's int8 (CPU) / fp16 (CUDA) twin when it ships one, as rnaloc-infer runs it; fp32: the model file itself.")
@click.option("--quiet", is_flag=True, help="Do not print the table; only warnings in the log.")
@click.option("--force", is_flag=True, help="Replace the report files of an earlier evaluation in OUT_DIR.")
def evaluate(model: str, fasta: Path, labels_tsv: Path, out_dir: Optional[Path], thresholds_mode: str,
             no_plots: bool, threads: Optional[int], device: str, precision: str, quiet: bool, force: bool) -> None:
    """Score MODEL (bundled name such as "default", or an .onnx path) on FASTA against LABELS_TSV.

    LABELS_TSV has an `id` column (first word of the FASTA header) and one 0/1 column per
    model class. Every FASTA id needs a label row and vice versa. Writes per-class AUROC,
    AUPRC, MCC and F1 plus macro means to OUT_DIR/metrics.tsv, ROC / PR curves as PNG, and
    to OUT_DIR/specificity.tsv whether the scores tell compartments apart or only count them
    (score correlations, AUROC of the sum of all scores, AUROC within records with 1, 2 and
    3+ labels, Nucleus-only vs Cytosol-only and Membrane-only vs ER-only, on probabilities and
    on log-odds; docs/MODEL_CARD.md), and the same figures for the relative profile of
    `rnaloc-infer --profile` to OUT_DIR/specificity_profile.tsv when the model has its training
    prevalence.
    """
    from rnaloc_infer.errors import RnalocError
    from rnaloc_infer.evaluation.report import format_table
    from rnaloc_infer.evaluation.specificity import format_report

    if quiet:
        logging.getLogger().setLevel(logging.WARNING)
    out_dir = out_dir or Path("eval") / Path(model).stem
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.cli.overwrite import check

    try:
        model_path = resolve_model(model)
    except RnalocError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    check([("report", out_dir / name) for name in CARD_FILES],
          [("model", model_path), ("FASTA", fasta), ("labels", labels_tsv)], force)
    try:
        table = run_evaluation(model, fasta, labels_tsv, out_dir, thresholds_mode, plots=not no_plots,
                               threads=threads, device=device, precision=precision)
    except RnalocError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ImportError as exc:  # e.g. the runtime API is missing in a broken install
        raise click.ClickException(f"cannot load the runtime: {exc}") from None
    if not quiet:
        click.echo(format_table(table))
        click.echo(format_report(table.specificity))
        if table.profile_specificity is not None:
            click.echo("\nThe same on the relative profile (rnaloc-infer --profile: rel_<class> columns)")
            click.echo(format_report(table.profile_specificity))
        click.echo(f"wrote {out_dir / 'metrics.tsv'} and {out_dir / 'specificity.tsv'}"
                   + (f" and {out_dir / 'specificity_profile.tsv'}" if table.profile_specificity is not None else ""))
