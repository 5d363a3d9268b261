"""``rnaloc-export``: turn a training checkpoint into ONNX and/or TorchScript files.

Torch is imported only inside the command, so ``--help`` stays fast and a runtime-only
install gets a clear message instead of an ImportError traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Tuple

import click

from rnaloc_infer.cli.overwrite import check

log = logging.getLogger(__name__)


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript", "both"]), default="onnx", show_default=True,
              help="Which files to write.")
@click.option("--fp16", is_flag=True,
              help="Also write NAME.fp16.onnx (fp16 compute, fp32/uint8/int64 IO) for GPU inference.")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (created if missing).")
@click.option("--name", default=None, help="Base file name (default: the checkpoint's stem).")
@click.option("--opset", type=click.IntRange(min=17), default=17, show_default=True, help="ONNX opset.")
@click.option("--train-fasta", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Training FASTA to derive the applicability rules from (rnaloc.applicability). Default: "
                   "the train split named by the checkpoint's training config, when that file exists.")
@click.option("--train-labels", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Training labels TSV for the classes' training prevalence (rnaloc.prevalence, used by "
                   "`rnaloc-infer --profile`). Default: the labels of the checkpoint's train split, when that file exists.")
@click.option("--fuse/--no-fuse", default=True, show_default=True,
              help="Run an ensemble's isomorphic QRNN networks as one wide network (same numbers, fewer node runs; "
                   "docs/EXPORT.md). Other models are written as they are either way.")
@click.option("--force", is_flag=True, help="Replace output files that already exist (never the checkpoint).")
@click.option("-v", "--verbose", is_flag=True, help="Debug log output.")
def main(checkpoint: Path, fmt: str, fp16: bool, out_dir: Path, name: Optional[str], opset: int,
         train_fasta: Optional[Path], train_labels: Optional[Path], fuse: bool, force: bool, verbose: bool) -> None:
    """Export CHECKPOINT (read with weights_only=True) to files in OUT_DIR; prints the paths written.

    Refuses (exit 2, nothing written) to write onto the checkpoint, however it is reached, and
    to replace an existing file unless --force.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if fp16 and fmt == "torchscript":
        raise click.UsageError("--fp16 applies to ONNX output; use --format onnx or both")
    base = name or checkpoint.stem
    targets = {"onnx": out_dir / f"{base}.onnx", "fp16": out_dir / f"{base}.fp16.onnx", "torchscript": out_dir / f"{base}.pt"}
    wanted = [kind for kind in targets if (kind == "fp16" and fp16 and fmt != "torchscript")
              or (kind != "fp16" and fmt in (kind, "both"))]
    outputs = [targets[kind] for kind in wanted]
    if "onnx" in wanted:  # explain's numpy weights beside a QRNN model (rnaloc_infer.export.ism_weights)
        outputs.append(out_dir / f"{base}.ism.npz")
    check_targets(outputs, checkpoint, train_fasta, force, train_labels)
    try:
        from rnaloc_infer.export.ism_weights import write_companion
        from rnaloc_infer.export.onnx_export import checkpoint_metadata, export_onnx
        from rnaloc_infer.export.torchscript_export import export_torchscript
        from rnaloc_infer.training.checkpoint import load_checkpoint
    except ImportError as exc:
        raise click.ClickException(f"export needs the [train] extra (torch, onnx): {exc}") from None

    try:
        model, payload = load_checkpoint(checkpoint)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise click.ClickException(_one_line(exc)) from None

    meta = {**checkpoint_metadata(payload), "applicability": _applicability(payload, train_fasta),
            "prevalence": _prevalence(payload, train_labels, list(model.config.classes))}
    written: List[Path] = []
    try:
        if "onnx" in wanted:
            written.append(export_onnx(model, targets["onnx"], opset=opset, fuse=fuse, **meta))
            companion = write_companion(written[-1])  # numpy weights for fast ISM (QRNN models only)
            if companion is not None:
                written.append(companion)
        if "fp16" in wanted:
            written.append(export_onnx(model, targets["fp16"], opset=opset, precision="fp16", fuse=fuse, **meta))
        if "torchscript" in wanted:
            written.append(export_torchscript(model, targets["torchscript"], fuse=fuse, **meta))
    except (ValueError, RuntimeError, OSError) as exc:
        raise click.ClickException(f"export failed: {_one_line(exc)}") from None
    for path in written:
        click.echo(str(path))


def check_targets(targets: List[Path], checkpoint: Path, train_fasta: Optional[Path], force: bool,
                  train_labels: Optional[Path] = None) -> None:
    """Never write onto an input; never replace an existing file without --force (exit 2, before any work)."""
    check([("output", t) for t in targets],
          [("checkpoint", checkpoint), ("training FASTA", train_fasta), ("training labels", train_labels)], force)


def _train_split(payload: dict) -> Tuple[Optional[dict], Path, Path]:
    """(training config or None, train FASTA, train labels) as the checkpoint's config names them."""
    from rnaloc_infer.training.data import default_data_dir, split_paths

    config = (payload.get("extra") or {}).get("train_config")
    data = (config or {}).get("data") or {}
    # runs store the absolute directory they read; older ones stored None (then: $RNALOC_DATA_DIR or ../shared/data)
    folder = data.get("data_dir") or default_data_dir()
    fasta, labels = split_paths(folder, data.get("train_split", "train"), data.get("prefix", "dm3loc"))
    return config, fasta, labels


def _prevalence(payload: dict, train_labels: Optional[Path], classes: List[str]) -> Optional[List[float]]:
    """Training prevalence per class from the labels TSV (given, or the checkpoint's train split); None if absent."""
    from rnaloc_infer.errors import RnalocError
    from rnaloc_infer.evaluation.labels import read_labels
    from rnaloc_infer.profile import prevalence_from_labels

    if train_labels is None:
        config, _, train_labels = _train_split(payload)
        if config is None or not train_labels.is_file():
            log.warning("no training prevalence written (pass --train-labels): `rnaloc-infer --profile` will refuse "
                        "this model until `rnaloc-train refit-metadata` adds it")
            return None
    try:
        return prevalence_from_labels(read_labels(train_labels, classes).y)
    except RnalocError as exc:  # names the file and line already
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(f"{train_labels}: {exc}") from None


def _applicability(payload: dict, train_fasta: Optional[Path]):
    """Applicability rules from the training FASTA (given, or the checkpoint's train split); None if absent."""
    from rnaloc_infer.applicability import derive_rules

    if train_fasta is None:
        config, train_fasta, _ = _train_split(payload)
        if config is None or not train_fasta.is_file():
            log.warning("no applicability rules written: %s (pass --train-fasta); rnaloc-infer will show '-' "
                        "in the applicability column", "the checkpoint names no training data" if config is None
                        else f"training FASTA {train_fasta} not found")
            return None
    rules, stats = derive_rules([train_fasta])
    log.info("applicability rules from %s (%d records): %s", train_fasta, stats.records, rules.to_json())
    return rules


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """First line of an error, shortened: torch's unpickling messages run to a paragraph."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else exc.__class__.__name__
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


from .common import standard_options  # noqa: E402

standard_options(main, "rnaloc-export")
