"""``rnaloc-train``: train a localisation model from a config file (needs the ``[train]`` extra)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from pathlib import Path
from typing import Callable, Optional, Tuple

import click

from rnaloc_infer.cli.overwrite import FORCE_HELP, check, refuse
from rnaloc_infer.features.registry import CODING_UTR, FEATURE_SETS

RUN_FILES = ("best.pt", "last.pt", "config.json", "log.jsonl")  # a run directory's own files (and epoch_NNN.pt)
force_option = click.option("--force", is_flag=True, help=FORCE_HELP)


def data_folder(data_dir: Optional[Path], prefix: str, splits: Tuple[str, ...]) -> Path:
    """The absolute data directory (--data-dir, else $RNALOC_DATA_DIR, else ../shared/data),
    checked to hold ``splits`` before any work (one line naming where it looked, exit 1)."""
    from rnaloc_infer.training.data import require_splits, resolve_data_dir

    folder, source = resolve_data_dir(data_dir)
    require_splits(folder, source, splits, prefix)
    return folder


def one_line_errors(command: Callable) -> Callable:
    """Bad configs, data files and artefacts raise ValueError (or, from the runtime's readers,
    an RnalocError) with a message that names the file: show that line (exit 1), not a traceback."""
    from rnaloc_infer.errors import RnalocError

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValueError, RnalocError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


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
              help="Folder with <prefix>_{train,valid}.fa.gz and *_labels.tsv (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--quiet", is_flag=True, help="No progress bar and only warnings in the log.")
@click.option("--force", is_flag=True, help="Start afresh in a directory that holds a run (its files are replaced).")
@one_line_errors
def fit(config: Path, out_dir: Optional[Path], resume: bool, epochs: Optional[int], seed: Optional[int],
        data_dir: Optional[Path], device: str, quiet: bool, force: bool) -> None:
    """Train the model described by CONFIG (TOML or JSON); keeps best.pt, last.pt and log.jsonl.

    A fresh run refuses (exit 2) a directory that holds a run unless --force; --resume
    continues the run there. The data directory the run reads is stored in it (absolute),
    where `rnaloc-export` finds the training data again."""
    from rnaloc_infer.training.config import load_config
    from rnaloc_infer.training.trainer import Trainer

    if quiet:
        logging.getLogger().setLevel(logging.WARNING)
    cfg = load_config(config)
    if epochs is not None:
        cfg.optim.epochs = epochs
    if seed is not None:
        cfg.seed = seed
    out_dir = out_dir or Path("runs") / config.stem
    from rnaloc_infer.training.data import require_splits, resolve_data_dir, split_paths

    data, source = resolve_data_dir(data_dir or cfg.data.data_dir,
                                    "--data-dir" if data_dir else "the config's data.data_dir")
    cfg.data = dataclasses.replace(cfg.data, data_dir=str(data))  # stored in the run: export reads it
    splits = (cfg.data.train_split, cfg.data.valid_split)
    require_splits(data, source, splits, cfg.data.prefix)
    inputs = [("config", config), ("k-mer vectors", cfg.kmer_vectors)]
    for split in splits:
        inputs += [(f"{split} data", p) for p in split_paths(data, split, cfg.data.prefix)]
    resume = resume and (out_dir / "last.pt").is_file()  # nothing to resume: a fresh run (Trainer.resume logs it)
    if resume:  # continuing this run is not replacing it: its files are rewritten on purpose
        inputs.append(("checkpoint to resume", out_dir / "last.pt"))
        refuse([("run file", out_dir / name) for name in RUN_FILES if name != "last.pt"], inputs)
    else:
        held = [out_dir / name for name in RUN_FILES] + sorted(out_dir.glob("epoch_*.pt"))
        check([("run file", path) for path in held], inputs, force)
    trainer = Trainer(cfg, out_dir, device=device, quiet=quiet)
    if resume:
        trainer.resume()
    result = trainer.fit()
    click.echo(json.dumps({"out_dir": str(result.out_dir), "best_epoch": result.best_epoch,
                           "best_macro_auroc": result.best_macro_auroc, "epochs_run": result.epochs_run}))


@main.command()
@click.argument("configs", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--member", "members", type=click.Choice(["regression", "forest"]), multiple=True,
              help="Also cross-fit this non-network member (repeatable): the k-mer + coding regression, the "
                   "coding-utr-v1 forest.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Cross-fitting directory: folds.tsv and one folder per member and fold (resumed when present).")
@click.option("--folds", "k", type=click.IntRange(min=2), default=5, show_default=True, help="Number of folds.")
@click.option("--fold", "only_folds", type=click.IntRange(min=0), multiple=True,
              help="Run only these folds (repeatable; default: all, in turn).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold assignment.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with <prefix>_{train,valid}.fa.gz and *_labels.tsv (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True,
              help="Split file prefix of the --member data (a network reads its config's).")
@click.option("--c", "c", type=click.FloatRange(min=0, min_open=True), default=None,
              help="--member regression: fix C instead of choosing it on an 80/20 split of each fold's training part.")
@click.option("--forest-bags", "bags", type=click.IntRange(min=1), default=1, show_default=True,
              help="--member forest: average this many forests per class, each stopping on its own early-stopping split.")
@click.option("--forest-max-features", "max_features", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0,
              show_default=True, help="--member forest: the fraction of the columns each split chooses from "
              "(scikit-learn's per-split column sampling).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="--member: CPU threads the regression and the trees may use (BLAS, OpenMP). Default: all; on a "
                   "machine that trains something else too, 1 (OpenMP threads that wait for a busy core spin).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@one_line_errors
def crossfit(configs: Tuple[Path, ...], members: Tuple[str, ...], out_dir: Path, k: int, only_folds: Tuple[int, ...],
             seed: int, data_dir: Optional[Path], prefix: str, c: Optional[float], bags: int, max_features: float,
             threads: Optional[int], device: str) -> None:
    """Cross-fit ensemble members over train + valid: per fold, fit on the other folds and save the
    fold's out-of-fold scores. CONFIGS are networks (early stopping on an inner split of the
    training part); --member adds the regression or the forest. Interrupted runs resume, and
    several processes share the folds (one lock per fold). Then `crossfit-blend`."""
    from rnaloc_infer.training.crossfit import crossfit_network
    from rnaloc_infer.training.crossfit_members import crossfit_member
    from rnaloc_infer.training.forest import ForestRecipe

    if not configs and not members:
        raise click.UsageError("name at least one network CONFIG or one --member")
    if any(f >= k for f in only_folds):
        raise click.BadParameter(f"folds are numbered 0..{k - 1}", param_hint="--fold")
    # a cross-fitting directory is continued, never replaced: a rerun resumes it, and one with
    # other folds or data is refused (crossfit.fold_plan); here only: no output is an input
    inputs = [("config", config) for config in configs]
    refuse([("folds file", out_dir / "folds.tsv")]
           + [("member source", out_dir / name / "source.json") for name in [c_.stem for c_ in configs] + list(members)],
           inputs)
    for config in configs:
        results = crossfit_network(config, out_dir, k=k, seed=seed, only_folds=list(only_folds) or None,
                                   data_dir=data_dir, device=device)
        click.echo(json.dumps({"member": config.stem, "best_epochs": [r["best_epoch"] for r in results]}))
    for member in members:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(threads):  # None: as configured
            results = crossfit_member(member, out_dir, k=k, seed=seed, only_folds=list(only_folds) or None,
                                      data_dir=data_dir, prefix=prefix, c=c,
                                      recipe=ForestRecipe(bags, max_features) if member == "forest" else None)
        click.echo(json.dumps({"member": member, "folds_done": len(results)}))


@main.command("crossfit-blend")
@click.argument("crossfit_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "report_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for blend.json (weights, calibration, thresholds), report.json and report.tsv.")
@click.option("--member", "members", multiple=True,
              help="Blend only these members (repeatable; default: every member cross-fitted in CROSSFIT_DIR).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the labels (default: the one the members read, from their source.json).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--resamples", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Bootstrap resamples of the 95% intervals.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads of the stacking's fits (BLAS). Default: all; 1 on a machine busy training.")
@click.option("--class-mixing/--no-class-mixing", default=False, show_default=True,
              help="End the blend in a class mixing: each class's output log-odds from every class's calibrated "
                   "log-odds (an L2 logistic regression per class, fitted inside the same nesting).")
@force_option
@one_line_errors
def crossfit_blend(crossfit_dir: Path, report_dir: Path, members: Tuple[str, ...], data_dir: Optional[Path],
                   prefix: str, resamples: int, seed: int, threads: Optional[int], class_mixing: bool,
                   force: bool) -> None:
    """Fit the ensemble's blend (stacked per-class weights, Platt calibration, thresholds) on the
    members' out-of-fold scores in CROSSFIT_DIR (every fold of every member must be there), and
    report out-of-fold figures: nested (blend fitted without the fold it scores: the estimate)
    and in-sample, with bootstrap 95% intervals (docs/RESULTS.md, "Cross-fitting")."""
    from rnaloc_infer.training.crossfit_blend import (BLEND_FILE, REPORT_JSON, REPORT_TSV, blend_report,
                                                      data_source, gather, oof_paths, write_outputs)

    _, names, paths = oof_paths(crossfit_dir, members or None)  # a missing fold: one line, before any work
    folder = data_source(crossfit_dir, names, data_dir)
    inputs = [("folds file", crossfit_dir / "folds.tsv")] + [("out-of-fold scores", p) for ps in paths for p in ps]
    check([("blend", report_dir / BLEND_FILE), ("report", report_dir / REPORT_JSON), ("report", report_dir / REPORT_TSV)],
          inputs, force)
    from threadpoolctl import threadpool_limits

    oof = gather(crossfit_dir, folder, prefix, names)
    with threadpool_limits(threads):
        blend, report = blend_report(oof, resamples, seed, class_mixing)
    written = write_outputs(report_dir, blend, report)
    estimate = report["estimate"]
    click.echo(json.dumps({"out": [str(p) for p in written], "records": report["records"], "members": names,
                           "out_of_fold_macro_auroc": round(estimate["macro"]["auroc"]["value"], 4),
                           "out_of_fold_auroc": {c_: round(estimate[c_]["auroc"]["value"], 4) for c_ in oof.classes},
                           "uninformative": report["uninformative"]}))


@main.command("crossfit-refit")
@click.argument("crossfit_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--blend", "blend_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="blend.json of `crossfit-blend`: the members to refit, and the standardisation, weights, "
                   "calibration and thresholds of the model (required but with --dry-run).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Refit directory: one folder per member (kept and resumed), ensemble.pt and refit.json.")
@click.option("--member", "members", multiple=True,
              help="Refit only these members of the blend (repeatable; default: all). The model is assembled once "
                   "every member is refit (here or in --members-from).")
@click.option("--members-from", "members_from", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Another refit directory whose finished members (same folds, same choices) are used in place "
                   "instead of being refit again (repeatable).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the train and valid splits (default: the one the members read, from their source.json).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads the regression and the trees may use (BLAS, OpenMP); a network uses its config's.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1 ...")
@click.option("--dry-run", is_flag=True,
              help="Print what each member's folds chose (epochs, C, trees) and fit nothing.")
@force_option
@one_line_errors
def crossfit_refit(crossfit_dir: Path, blend_path: Optional[Path], out_dir: Optional[Path], members: Tuple[str, ...],
                   members_from: Tuple[Path, ...], data_dir: Optional[Path], prefix: str, threads: Optional[int],
                   device: str, dry_run: bool, force: bool) -> None:
    """Refit every member of a cross-fitted blend on all labelled records (train + valid) with what
    its folds chose (networks: the median best epoch, on the config's full learning-rate
    schedule; regression: the median C; forest: its fixed settings), then fold them with
    BLEND's standardisation, weights, calibration and thresholds into OUT/ensemble.pt, which
    `release` ships without refitting anything on valid (docs/RESULTS.md, "Cross-fitting")."""
    from rnaloc_infer.training.crossfit_blend import member_names
    from rnaloc_infer.training.crossfit_refit import (ENSEMBLE_FILE, REPORT_FILE, crossfit_refit as refit,
                                                      ensemble_order, plan_member, read_blend)

    if dry_run:
        names = list(members) or (read_blend(blend_path)["members"] if blend_path else member_names(crossfit_dir))
        for name in ensemble_order(names):
            click.echo(json.dumps(plan_member(crossfit_dir, name).describe()))
        return
    if blend_path is None or out_dir is None:
        raise click.UsageError("--blend and --out are required (but with --dry-run)")
    check([("ensemble", out_dir / ENSEMBLE_FILE), ("refit report", out_dir / REPORT_FILE)],
          [("blend", blend_path), ("folds file", crossfit_dir / "folds.tsv")], force)
    summary = refit(crossfit_dir, blend_path, out_dir, members=members, members_from=members_from, data_dir=data_dir,
                    prefix=prefix, device=device, threads=threads)
    click.echo(json.dumps(summary))


@main.command()
@click.option("--k", "k", type=click.IntRange(2, 8), default=6, show_default=True, help="k-mer size.")
@click.option("--dim", type=click.IntRange(min=1), default=32, show_default=True, help="Vector size.")
@click.option("--fasta", "fasta", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="Training FASTA (repeatable; default: the train split in --data-dir). Never the valid or test split.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with dm3loc_train.fa.gz (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--window", type=click.IntRange(min=1), default=5, show_default=True, help="word2vec context window (k-mers).")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output .npz.")
@force_option
@one_line_errors
def kmers(k: int, dim: int, fasta: tuple, data_dir: Optional[Path], window: int, epochs: int, workers: int,
          seed: int, out: Path, force: bool) -> None:
    """Train word2vec k-mer vectors (dna2vec-style) for the k-mer embedding encoder."""
    from rnaloc_infer.training.data import split_paths
    from rnaloc_infer.training.kmer_vectors import train_kmer_vectors

    paths = list(fasta) or [split_paths(data_folder(data_dir, "dm3loc", ("train",)), "train")[0]]
    check([("output", out)], [("training FASTA", p) for p in paths], force)
    table = train_kmer_vectors(paths, k, dim, window=window, epochs=epochs, workers=workers, seed=seed)
    table.save(out)
    click.echo(json.dumps({"out": str(out), "k": k, "dim": dim, "present": int(table.present.sum()),
                           "words": table.info["words"]}))


@main.command()
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the train split (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--coding", is_flag=True,
              help="Also read the encoded protein's features (longest ORF: hydropathy, amino acid and codon usage).")
@click.option("--c", "c", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Fix the inverse regularisation C instead of choosing it on an 80/20 split of train.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output .npz.")
@force_option
@one_line_errors
def regression(data_dir: Optional[Path], prefix: str, coding: bool, c: Optional[float], out: Path, force: bool) -> None:
    """Fit the k-mer (with --coding: and protein-feature) logistic regression on the train split,
    the regression member of `rnaloc-train ensemble` (needs scikit-learn, in the [train] extra)."""
    from rnaloc_infer.training.data import read_split, split_paths
    from rnaloc_infer.training.models import CLASSES
    from rnaloc_infer.training.regression import fit_regression

    paths = split_paths(data_folder(data_dir, prefix, ("train",)), "train", prefix)
    check([("output", out)], [("train data", path) for path in paths], force)
    train = read_split(*paths, CLASSES)
    fitted = fit_regression(train, coding=coding, c=c)
    fitted.save(out)
    click.echo(json.dumps({"out": str(out), "C": fitted.C, "ks": fitted.ks, "features": fitted.features,
                           "columns": int(fitted.coef.shape[1]), "train_records": len(train)}))


@main.command()
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the train split (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output .npz.")
@click.option("--features", "feature_set", type=click.Choice(list(FEATURE_SETS)), default=CODING_UTR,
              show_default=True, help="Per-record features beside the k-mer frequencies: the protein's, and the UTRs' "
              "k-mer frequencies (the default forest's inputs) or the protein's only (the regression's inputs).")
@click.option("--bags", type=click.IntRange(min=1), default=1, show_default=True,
              help="Average this many forests per class, each stopping on its own early-stopping split.")
@click.option("--max-features", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0, show_default=True,
              help="The fraction of the columns each split chooses from (scikit-learn's per-split column sampling).")
@force_option
@one_line_errors
def forest(data_dir: Optional[Path], prefix: str, out: Path, feature_set: str, bags: int, max_features: float,
           force: bool) -> None:
    """Fit gradient-boosted trees per class on the train split's k-mer frequencies and per-record
    features (settings fixed in advance), the forest member of `rnaloc-train ensemble --forest`
    (needs scikit-learn, in the [train] extra)."""
    from rnaloc_infer.training.data import read_split, split_paths
    from rnaloc_infer.training.forest import ForestRecipe, fit_forest, forest_inputs
    from rnaloc_infer.training.models import CLASSES

    paths = split_paths(data_folder(data_dir, prefix, ("train",)), "train", prefix)
    check([("output", out)], [("train data", path) for path in paths], force)
    train = read_split(*paths, CLASSES)
    fitted = fit_forest(forest_inputs(train.codes, features=feature_set), train.labels, CLASSES, features=feature_set,
                        recipe=ForestRecipe(bags, max_features))
    fitted.save(out)
    click.echo(json.dumps({"out": str(out), "bags": bags, "max_features": max_features,
                           "trees": dict(zip(CLASSES, fitted.trees_fitted)),
                           "nodes": int(len(fitted.trees.value)), "depth": fitted.trees.depth,
                           "train_records": len(train)}))


@main.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--logreg", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="k-mer regression from `rnaloc-train regression` (with --coding: plus the encoded protein's "
                   "features).")
@click.option("--forest", "forest_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Trees from `rnaloc-train forest`, one more member (needs a --logreg with protein features).")
@click.option("--blend", type=click.Choice(["equal", "stacked"]), default="equal", show_default=True,
              help="equal: every member the same weight; stacked: per-class weights fitted on valid (needs "
                   "scikit-learn), with out-of-fold AUROCs in the report.")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the train and valid splits (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output checkpoint.")
@force_option
@one_line_errors
def ensemble(checkpoints: Tuple[Path, ...], logreg: Path, forest_path: Optional[Path], blend: str,
             data_dir: Optional[Path], prefix: str, out: Path, force: bool) -> None:
    """Blend trained networks (one or more CHECKPOINTS) with the k-mer regression into one checkpoint.

    Members are standardised on train and blended with equal weights (or, with --blend stacked,
    per-class weights fitted on valid); calibration and thresholds come from valid. Then
    `rnaloc-export` it to one ONNX file. The bundled default is not made this way: its blend,
    class mixing and thresholds are fitted on out-of-fold scores of train + valid
    (`crossfit`, `crossfit-blend --class-mixing`, `crossfit-refit`; docs/RESULTS.md, "Cross-fitting").
    """
    from rnaloc_infer.training.checkpoint import load_checkpoint, save_checkpoint
    from rnaloc_infer.training.data import split_paths
    from rnaloc_infer.training.ensemble import build_ensemble

    folder = data_folder(data_dir, prefix, ("train", "valid"))
    check([("output", out)], [("checkpoint", p) for p in checkpoints] + [("regression", logreg)]
          + ([("forest", forest_path)] if forest_path else [])
          + [("data", p) for split in ("train", "valid") for p in split_paths(folder, split, prefix)], force)
    loaded = [load_checkpoint(path) for path in checkpoints]
    model, report = build_ensemble([network for network, _ in loaded], logreg, folder,
                                   prefix=prefix, forest_path=forest_path, blend=blend)
    first = loaded[0][1]
    save_checkpoint(out, model, thresholds=report["thresholds"], train_data_sha256=report["train_data_sha256"],
                    metrics=report["flat_metrics"], epoch=first.get("epoch", 0),
                    extra={"ensemble": report, "network_checkpoints": [str(path) for path in checkpoints],
                           "train_config": first.get("extra", {}).get("train_config")})
    summary = {"out": str(out), "macro_auroc": round(report["macro_auroc"], 4),
               "auroc": {c: round(v, 4) for c, v in report["auroc"].items()},
               "member_valid_auroc": report["member_valid_auroc"]}
    if "stacking" in report:  # the honest estimate of a blend fitted on valid
        summary["out_of_fold_macro_auroc"] = round(report["stacking"]["cv_macro_auroc"], 4)
        summary["out_of_fold_auroc"] = {c: round(v, 4) for c, v in report["stacking"]["cv_auroc"].items()}
        summary["weights"] = report["weights"]
    click.echo(json.dumps(summary))


@main.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the valid split (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output checkpoint.")
@force_option
@one_line_errors
def average(checkpoints: Tuple[Path, ...], data_dir: Optional[Path], prefix: str, out: Path, force: bool) -> None:
    """Average the weights of CHECKPOINTS of one run (e.g. the last epochs' snapshots, `snapshots = true`)
    into one network, with thresholds and metrics from valid."""
    from rnaloc_infer.training.averaging import average_weights, score_on_valid
    from rnaloc_infer.training.checkpoint import load_checkpoint, save_checkpoint
    from rnaloc_infer.training.data import split_paths
    from rnaloc_infer.training.trainer import flat_metrics

    folder = data_folder(data_dir, prefix, ("valid",))
    check([("output", out)], [("checkpoint", p) for p in checkpoints]
          + [("valid data", p) for p in split_paths(folder, "valid", prefix)], force)
    loaded = [load_checkpoint(path) for path in checkpoints]
    model = average_weights([network for network, _ in loaded])
    thresholds, result = score_on_valid(model, folder, prefix)
    first = loaded[0][1]
    save_checkpoint(out, model, thresholds=thresholds, train_data_sha256=first.get("train_data_sha256", ""),
                    metrics=flat_metrics(result), epoch=max(p.get("epoch", 0) for _, p in loaded),
                    extra={"averaged": [str(path) for path in checkpoints],
                           "train_config": first.get("extra", {}).get("train_config")})
    click.echo(json.dumps({"out": str(out), "macro_auroc": round(result["macro_auroc"], 4),
                           "auroc": {c: round(v, 4) for c, v in zip(result["classes"], result["auroc"])}}))


@main.command("refit-metadata")
@click.argument("model")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the train and valid splits (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--dry-run", is_flag=True, help="Report only; leave the files as they are.")
@click.option("--no-label", "no_label", multiple=True, metavar="CLASS",
              help="Write no threshold (JSON null) for CLASS: never labelled, for a class whose label carries no "
                   "information (e.g. Exosome, positive for 99% of training mRNAs). Repeatable.")
@one_line_errors
def refit_metadata(model: str, data_dir: Optional[Path], prefix: str, dry_run: bool, no_label: Tuple[str, ...]) -> None:
    """Refit MODEL's thresholds (policy of `evaluation.metrics.policy_threshold` on its own
    valid probabilities), applicability rules and class prevalence (from the train split; the
    reference of `rnaloc-infer --profile`), rewriting only the
    ONNX metadata of MODEL (a bundled name or an .onnx path) and of its .fp16.onnx sibling, and
    of its .int8.onnx twin, which stays tied to the rewritten file. --no-label CLASS: CLASS gets
    no threshold (JSON null), so it is never labelled (docs/MODEL_CARD.md, "Thresholds")."""
    from rnaloc_infer.bundled import resolve_model
    from rnaloc_infer.export.refit import refit_metadata as refit
    from rnaloc_infer.bundled import twin_path
    from rnaloc_infer.session import twin_file
    from rnaloc_infer.training.data import split_paths

    path = resolve_model(model)
    folder = data_folder(data_dir, prefix, ("train", "valid"))
    valid_fasta, valid_labels = split_paths(folder, "valid", prefix)
    train_fasta, train_labels = split_paths(folder, "train", prefix)
    sibling = twin_file(path, "fp16")  # it gets the fp32 file's thresholds
    if not dry_run:  # MODEL's metadata is rewritten in place by design (no --force); never onto an input
        refuse([("model", path), ("fp16 sibling", sibling), ("int8 twin", twin_path(path, "int8"))],
               [("data", p) for p in (valid_fasta, valid_labels, train_fasta, train_labels)])
    report = refit(path, valid_fasta, valid_labels, train_fasta, [sibling] if sibling else [], write=not dry_run,
                   train_labels=train_labels, no_label=no_label)
    click.echo(json.dumps(report, indent=1))


@main.command()
@click.argument("model")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the train (calibration) and valid (check) splits (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@force_option
@one_line_errors
def quantize(model: str, data_dir: Optional[Path], prefix: str, force: bool) -> None:
    """Write MODEL's int8 twin MODEL.int8.onnx (QRNN convolutions in 8 bits, calibrated on the
    train split), which the runtime then runs on the CPU. Every valid probability must stay
    within 0.01 of MODEL's and every class's valid AUROC within 0.002: over that, fewer QRNN
    layers are quantised, and no twin is kept if even one is over (docs/EXPORT.md)."""
    from rnaloc_infer.bundled import resolve_model, twin_path
    from rnaloc_infer.export.quantize import quantise_checked
    from rnaloc_infer.training.data import split_paths

    path = resolve_model(model)
    folder = data_folder(data_dir, prefix, ("train", "valid"))
    train_fasta = split_paths(folder, "train", prefix)[0]
    valid_fasta, valid_labels = split_paths(folder, "valid", prefix)
    check([("int8 twin", twin_path(path, "int8"))],
          [("model", path), ("training FASTA", train_fasta), ("valid FASTA", valid_fasta), ("valid labels", valid_labels)],
          force)
    report = quantise_checked(path, train_fasta, valid_fasta, valid_labels)
    click.echo(json.dumps(report, indent=1))


CARD_NOTE = "evaluation.json"  # beside the card's figures: on what they were computed, in-sample or not


def evaluation_note(refit_report: dict) -> dict:
    """What the card's valid figures are worth: for a cross-fitted release every figure is
    in-sample (the valid records trained the members; out-of-fold figures are crossfit-blend's
    report.json), otherwise the thresholds (and an ensemble's blend) were fitted on valid."""
    if "fitting" in refit_report:
        return {"split": "valid", "in_sample": True,
                "why": "the members were refit on train + valid: every valid figure is in-sample; the out-of-fold "
                       "estimate is crossfit-blend's report.json",
                "fitting": refit_report["fitting"]}
    return {"split": "valid", "in_sample": True,
            "why": "the members trained on train only, but the thresholds (and an ensemble's weights and calibration) "
                   "were fitted on valid: MCC, precision and recall are in-sample, AUROC/AUPRC of a stacked blend too"}


@main.command()
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default="default", show_default=True, help="Bundled model name (default, fast, ...).")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Repository root the files go into (default: this checkout).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the valid split for the model card's evaluation (default: $RNALOC_DATA_DIR, else ../shared/data).")
@click.option("--prefix", default="dm3loc", show_default=True, help="Split file prefix.")
@click.option("--no-evaluate", is_flag=True, help="Skip the model card's evaluation on valid.")
@click.option("--fuse/--no-fuse", default=True, show_default=True,
              help="Export an ensemble's isomorphic networks as one wide network (same numbers; docs/EXPORT.md).")
@click.option("--int8/--no-int8", default=True, show_default=True,
              help="Also write the int8 twin for the CPU (`quantize`), kept only within its bounds on valid.")
@click.option("--force", is_flag=True, help="Replace the files of an existing release NAME (never an input).")
@click.option("--no-label", "no_label", multiple=True, metavar="CLASS",
              help="Write no threshold (JSON null) for CLASS: never labelled, for a class whose label carries no "
                   "information (e.g. Exosome, positive for 99% of training mRNAs). Repeatable.")
@one_line_errors
def release(checkpoint: Path, name: str, root: Optional[Path], data_dir: Optional[Path], prefix: str,
            no_evaluate: bool, fuse: bool, int8: bool, force: bool, no_label: Tuple[str, ...]) -> None:
    """Ship CHECKPOINT as the bundled model NAME (docs/MODEL_CARD.md, "Release").

    Writes ROOT/rnaloc_infer/models/NAME.onnx and NAME.fp16.onnx (replacing them only with
    --force; and the int8 twin NAME.int8.onnx when it stays within its bounds, see `quantize`), refits
    their thresholds and applicability rules (`refit-metadata`; report in
    ROOT/benchmarks/results/refit_NAME.json), writes the eager-PyTorch expectation
    ROOT/tests/data/NAME_model_expected.json for ROOT/examples/example.fa (checked here
    against the runtime), and the evaluation on valid (metrics.tsv, roc.png, pr.png) in
    ROOT/docs/model_card (NAME default) or ROOT/docs/model_card/NAME, with evaluation.json saying
    what those figures are worth.

    A checkpoint of `crossfit-refit` keeps its out-of-fold thresholds (blend.json's; nothing is
    fitted on valid, only the applicability rules on train), its files record where each part
    was fitted (rnaloc.fitting), and its valid evaluation is marked in-sample.
    """
    from rnaloc_infer.bundled import TWIN_SUFFIXES
    from rnaloc_infer.output.files import atomic_write_text
    from rnaloc_infer.explain.numpy_model import COMPANION_SUFFIX
    from rnaloc_infer.modelfile.digest import file_sha256
    from rnaloc_infer.training.data import REPO_ROOT, split_paths

    try:
        from rnaloc_infer.export.release import release as ship
    except ImportError as exc:
        raise click.ClickException(f"release needs the [train] extra (torch, onnx): {exc}") from None

    from .evaluate import CARD_FILES, evaluation_options, run_evaluation

    root = root or REPO_ROOT
    folder = data_folder(data_dir, prefix, ("train", "valid"))
    train_fasta, train_labels = split_paths(folder, "train", prefix)
    valid_fasta, valid_labels = split_paths(folder, "valid", prefix)
    card = root / "docs" / "model_card" / ("" if name == "default" else name)
    refit_path = root / "benchmarks" / "results" / f"refit_{name}.json"
    models = root / "rnaloc_infer" / "models"
    outputs = [("model", models / f"{name}{suffix}") for suffix in (".onnx", *TWIN_SUFFIXES, COMPANION_SUFFIX)]
    outputs += [("expectation", root / "tests" / "data" / f"{name}_model_expected.json"), ("refit report", refit_path)]
    outputs += [] if no_evaluate else [("model card file", card / file) for file in (*CARD_FILES, CARD_NOTE)]
    check(outputs, [("checkpoint", checkpoint), ("training FASTA", train_fasta), ("training labels", train_labels),
                    ("valid FASTA", valid_fasta), ("valid labels", valid_labels),
                    ("example FASTA", root / "examples" / "example.fa")], force)
    files = ship(checkpoint, name, models_dir=root / "rnaloc_infer" / "models",
                 expectation=root / "tests" / "data" / f"{name}_model_expected.json",
                 fasta=root / "examples" / "example.fa", root=root,
                 train_fasta=train_fasta, valid_fasta=valid_fasta, valid_labels=valid_labels, fuse=fuse, int8=int8,
                 train_labels=train_labels, no_label=no_label)
    refit_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(refit_path, json.dumps(files.refit_report, indent=1) + "\n")
    summary = {"onnx": str(files.onnx), "onnx_fp16": str(files.onnx_fp16), "expectation": str(files.expectation),
               "refit": str(refit_path),
               "sha256": {path.name: file_sha256(path) for path in (files.onnx, files.onnx_fp16)}}
    if not no_evaluate:
        table = run_evaluation(evaluation_options(str(files.onnx), valid_fasta, precision="fp32"),  # the card is the fp32 file's
                               valid_labels, card)
        atomic_write_text(card / CARD_NOTE, json.dumps(evaluation_note(files.refit_report), indent=1) + "\n")
        summary["model_card"] = str(card)
        summary["macro_auroc"] = round(float(table.macro["auroc"]), 4)
    if "fitting" in files.refit_report:
        summary["thresholds"] = "out of fold (the checkpoint's, from blend.json)"
        summary["valid_evaluation"] = "in-sample"
    click.echo(json.dumps(summary))


try:  # written by another engineer; optional so `fit` works without it
    from .evaluate import evaluate

    main.add_command(evaluate)
except ImportError:  # pragma: no cover
    pass

from .common import standard_options  # noqa: E402  (after every subcommand is attached)

standard_options(main, "rnaloc-train")
