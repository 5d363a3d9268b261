"""``rnaloc-train evaluate``: score an exported model on a labelled FASTA.

Why it runs through the runtime :class:`~rnaloc_infer.api.Predictor` (ONNX Runtime, no
torch): the figures must describe the artefact users actually run, including its
metadata thresholds, not the PyTorch module it was exported from.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import click
import numpy as np

log = logging.getLogger(__name__)


def _read_fasta(path: Path) -> Tuple[List[str], List[str]]:
    """(ids, sequences) of a FASTA file; a bad record is an error (evaluation needs them all)."""
    from rnaloc_infer.alphabet import ALPHABET
    from rnaloc_infer.fasta import Record, read_fasta

    letters = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
    ids: List[str] = []
    seqs: List[str] = []
    for item in read_fasta(path, warn_duplicates=False):
        if not isinstance(item, Record):
            raise item.to_exception()
        ids.append(item.id)
        # Codes back to letters: every non-ACGT letter is already N, so the model sees the same input.
        seqs.append(letters[item.codes].tobytes().decode("ascii"))
    return ids, seqs


def _model_classes_thresholds(predictor: object) -> Tuple[List[str], List[float]]:
    """Classes and thresholds from the loaded model's metadata (docs/DESIGN.md).

    Looks on the predictor itself, then on its ``info`` (a session ``ModelInfo``) and its
    ``session.info``, then in a ``metadata`` dict, so it does not depend on which of these
    the API exposes.
    """
    holders = [predictor, getattr(predictor, "info", None), getattr(predictor, "session", None)]
    holders.append(getattr(holders[-1], "info", None))
    classes = thresholds = None
    for holder in holders:
        if holder is None:
            continue
        meta = getattr(holder, "metadata", None)
        meta = meta if isinstance(meta, dict) else {}
        if classes is None:
            classes = getattr(holder, "classes", None) or meta.get("classes")
        if thresholds is None:
            thresholds = getattr(holder, "thresholds", None) or meta.get("thresholds")
    if classes is None:
        raise click.ClickException("the model does not report its classes (rnaloc.classes metadata)")
    classes = list(classes)
    thresholds = [0.5] * len(classes) if thresholds is None else [float(t) for t in thresholds]
    if len(thresholds) != len(classes):
        raise click.ClickException(f"the model has {len(thresholds)} thresholds for {len(classes)} classes")
    return classes, thresholds


def run_evaluation(model: str, fasta: Path, labels_tsv: Path, out_dir: Path, thresholds_mode: str = "model",
                   plots: bool = True, threads: Optional[int] = None, device: str = "auto"):
    """Predict, match labels, compute and write the table (and figures); returns the MetricsTable."""
    from rnaloc_infer.api import Predictor
    from rnaloc_infer.evaluation.report import compute_table, match_labels, read_labels, tuned_thresholds, write_tsv

    predictor = Predictor(model=model, device=device, threads=threads)
    classes, thresholds = _model_classes_thresholds(predictor)
    labels = read_labels(labels_tsv, classes)
    ids, seqs = _read_fasta(fasta)
    y = match_labels(ids, labels, pred_source=str(fasta), label_source=str(labels_tsv))
    log.info("predicting %d records with %s", len(ids), model)
    scores = np.asarray(predictor.predict(seqs), dtype=np.float64)
    if scores.shape != y.shape:
        raise click.ClickException(f"model returned scores of shape {scores.shape}, expected {y.shape}")
    if thresholds_mode == "tuned":
        thresholds = tuned_thresholds(y, scores)
        log.warning("thresholds tuned on this very set: MCC/F1 are optimistic")
    table = compute_table(y, scores, classes, thresholds)
    write_tsv(table, out_dir / "metrics.tsv")
    if plots:
        from rnaloc_infer.evaluation.plots import plot_curves

        plot_curves(y, scores, classes, out_dir, table=table, title=f"{Path(model).stem} on {fasta.name}")
    return table


@click.command()
@click.argument("model")
@click.argument("fasta", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("labels_tsv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where metrics.tsv, roc.png and pr.png go (default: eval/<model name>).")
@click.option("--thresholds", "thresholds_mode", type=click.Choice(["model", "tuned"]), default="model",
              show_default=True,
              help="MCC/F1 at the model's metadata thresholds, or at thresholds chosen on these labels "
                   "by the training policy (MCC optimum; prevalence matching for a class with < 100 "
                   "positives or negatives; optimistic, for diagnosis only).")
@click.option("--no-plots", is_flag=True, help="Skip roc.png / pr.png.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="ONNX Runtime intra-op threads (default: 1, as rnaloc-infer; docs/PERFORMANCE.md).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="Do not print the table; only warnings in the log.")
def evaluate(model: str, fasta: Path, labels_tsv: Path, out_dir: Optional[Path], thresholds_mode: str,
             no_plots: bool, threads: Optional[int], device: str, quiet: bool) -> None:
    """Score MODEL (bundled name such as "default", or an .onnx path) on FASTA against LABELS_TSV.

    LABELS_TSV has an `id` column (first word of the FASTA header) and one 0/1 column per
    model class. Every FASTA id needs a label row and vice versa. Writes per-class AUROC,
    AUPRC, MCC and F1 plus macro means to OUT_DIR/metrics.tsv and ROC / PR curves as PNG.
    """
    from rnaloc_infer.errors import RnalocError
    from rnaloc_infer.evaluation.report import format_table

    if quiet:
        logging.getLogger().setLevel(logging.WARNING)
    out_dir = out_dir or Path("eval") / Path(model).stem
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.cli.overwrite import refuse

    try:
        model_path = resolve_model(model)
    except RnalocError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    refuse([("report", out_dir / name) for name in ("metrics.tsv", "roc.png", "pr.png")],
           [("model", model_path), ("FASTA", fasta), ("labels", labels_tsv)])
    try:
        table = run_evaluation(model, fasta, labels_tsv, out_dir, thresholds_mode, plots=not no_plots,
                               threads=threads, device=device)
    except RnalocError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except ImportError as exc:  # e.g. the runtime API is missing in a broken install
        raise click.ClickException(f"cannot load the runtime: {exc}") from None
    if not quiet:
        click.echo(format_table(table))
        click.echo(f"wrote {out_dir / 'metrics.tsv'}")
