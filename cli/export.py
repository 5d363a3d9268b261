"""``rnaloc-export``: turn a training checkpoint into ONNX and/or TorchScript files.

Torch is imported only inside the command, so ``--help`` stays fast and a runtime-only
install gets a clear message instead of an ImportError traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import click

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
@click.option("-v", "--verbose", is_flag=True, help="Debug log output.")
def main(checkpoint: Path, fmt: str, fp16: bool, out_dir: Path, name: Optional[str], opset: int, verbose: bool) -> None:
    """Export CHECKPOINT (read with weights_only=True) to files in OUT_DIR; prints the paths written."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if fp16 and fmt == "torchscript":
        raise click.UsageError("--fp16 applies to ONNX output; use --format onnx or both")
    try:
        from rnaloc_infer.export.onnx_export import export_onnx
        from rnaloc_infer.export.torchscript_export import export_torchscript
        from rnaloc_infer.training.checkpoint import load_checkpoint
    except ImportError as exc:
        raise click.ClickException(f"export needs the [train] extra (torch, onnx): {exc}") from None

    try:
        model, payload = load_checkpoint(checkpoint)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise click.ClickException(_one_line(exc)) from None

    base = name or checkpoint.stem
    meta = {
        "thresholds": payload.get("thresholds"),
        "train_data_sha256": str(payload.get("train_data_sha256", "")),
    }
    written: List[Path] = []
    try:
        if fmt in ("onnx", "both"):
            written.append(export_onnx(model, out_dir / f"{base}.onnx", opset=opset, **meta))
            if fp16:
                written.append(export_onnx(model, out_dir / f"{base}.fp16.onnx", opset=opset, precision="fp16", **meta))
        if fmt in ("torchscript", "both"):
            written.append(export_torchscript(model, out_dir / f"{base}.pt", **meta))
    except (ValueError, RuntimeError, OSError) as exc:
        raise click.ClickException(f"export failed: {_one_line(exc)}") from None
    for path in written:
        click.echo(str(path))


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """First line of an error, shortened: torch's unpickling messages run to a paragraph."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else exc.__class__.__name__
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."
