"""``rnaloc-train``: train a localisation model from a config file (needs the ``[train]`` extra)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Optional

import click


@click.group()
@click.option("-v", "--verbose", count=True, help="-vv for debug logging (info is the default).")
def main(verbose: int) -> None:
    """Train and evaluate RNA localisation models."""
    level = logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/<config name>).")
@click.option("--resume", is_flag=True, help="Continue from <out>/last.pt (model, optimizer, epoch, RNG).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Override optim.epochs (total, not extra).")
@click.option("--seed", type=int, default=None, help="Override the config seed.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with <prefix>_{train,valid}.fa.gz and *_labels.tsv (default: ../shared/data).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--quiet", is_flag=True, help="No progress bar and only warnings in the log.")
def fit(config: Path, out_dir: Optional[Path], resume: bool, epochs: Optional[int], seed: Optional[int],
        data_dir: Optional[Path], device: str, quiet: bool) -> None:
    """Train the model described by CONFIG (TOML or JSON); keeps best.pt, last.pt and log.jsonl."""
    from rnaloc_infer.training.config import load_config
    from rnaloc_infer.training.trainer import Trainer

    if quiet:
        logging.getLogger().setLevel(logging.WARNING)
    cfg = load_config(config)
    if epochs is not None:
        cfg.optim.epochs = epochs
    if seed is not None:
        cfg.seed = seed
    if data_dir is not None:
        cfg.data = dataclasses.replace(cfg.data, data_dir=str(data_dir))
    out_dir = out_dir or Path("runs") / config.stem
    trainer = Trainer(cfg, out_dir, device=device, quiet=quiet)
    if resume:
        trainer.resume()
    result = trainer.fit()
    click.echo(json.dumps({"out_dir": str(result.out_dir), "best_epoch": result.best_epoch,
                           "best_macro_auroc": result.best_macro_auroc, "epochs_run": result.epochs_run}))


try:  # written by another engineer; optional so `fit` works without it
    from .evaluate import evaluate

    main.add_command(evaluate)
except ImportError:  # pragma: no cover
    pass
