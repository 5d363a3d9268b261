"""Cross-fit a Nucleus-vs-Cytosol specialist member (experiments/PREREGISTERED.md, candidate D).

Why: every member is fitted per class on all records, so each class's score learns how many
compartments a record is annotated with as much as which one (out of fold the blend's Nucleus
and Cytosol log-odds correlate at 0.980). A member fitted only on the records that tell the
two classes apart (Nucleus and not Cytosol vs Cytosol and not Nucleus, other labels free)
learns "which" alone. Per fold k, a bag of three gradient-boosted forests
(:func:`rnaloc_infer.training.forest.fit_forest`, the fixed settings, the forest's own
``coding-utr-v1`` inputs) is fitted on those records of the other folds and scores every
record of fold k; the score fills all six columns of the member's ``oof.npz`` so that the
blend's stacking weighs it per class.

    python experiments/nc_specialist_crossfit.py --crossfit artifacts/crossfit_bag3 --out DIR --data-dir ../shared/data
    cp -r artifacts/crossfit_bag3/. DIR/   # the baseline's members beside the specialist
    python experiments/forest_bag_gain.py --crossfit artifacts/crossfit_bag3 --candidate DIR \\
        --data-dir ../shared/data --members qrnn_motif_coding regression forest \\
        --candidate-members qrnn_motif_coding regression forest nc_specialist \\
        --names bag_of_forests nc_specialist --out experiments/results/nc_specialist_gain.tsv

Two processes on the same ``--out`` share the folds (one lock per fold). The inputs are
computed once and kept in ``DIR/nc_specialist/inputs.npy``. With ``--results``, once every fold
is there, each member's own Nucleus-only vs Cytosol-only AUROC (its Nucleus score alone and its
Nucleus minus Cytosol score; the specialist's six columns are one score) is written beside the
gain: does a member fitted for "which" rank the pair better than the members fitted per class?

    python experiments/nc_specialist_crossfit.py --crossfit artifacts/crossfit_bag3 --out DIR \\
        --data-dir ../shared/data --results experiments/results/nc_specialist_alone.tsv
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path

import numpy as np

from class_mixing_gain import adopt_folds
from rnaloc_infer.features.registry import CODING_UTR
from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.evaluation.specificity import only_one_of
from rnaloc_infer.output.files import atomic_output, atomic_write_text
from rnaloc_infer.training.crossfit import OOF_FILE, fold_lock, read_labelled, write_oof
from rnaloc_infer.training.crossfit_blend import PAIR, gather
from rnaloc_infer.training.forest import ForestRecipe, fit_forest, forest_inputs
from rnaloc_infer.training.models import CLASSES

MEMBER = "nc_specialist"
RECIPE = ForestRecipe(bags=3)


def pair_target(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows that tell the pair apart, 1 for the first class of :data:`PAIR` among them)."""
    first, second = only_one_of(labels, CLASSES.index(PAIR[0]), CLASSES.index(PAIR[1]))
    return np.flatnonzero(first | second), first[first | second].astype(np.int64)


def cached_inputs(path: Path, codes) -> np.ndarray:
    if path.exists():
        return np.load(path)
    x = forest_inputs(codes, features=CODING_UTR)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, x)
    tmp.replace(path)  # whole or not at all: a second process may read it at once
    return x


def write_alone(path: Path, crossfit: Path, out: Path, data_dir: Path, members: list) -> None:
    """Per member of ``crossfit`` (and the specialist of ``out``): its out-of-fold AUROC of
    Nucleus-only vs Cytosol-only records by its Nucleus score and by Nucleus minus Cytosol."""
    sets = [gather(crossfit, data_dir, members=members), gather(out, data_dir, members=[MEMBER])]
    if sets[0].ids != sets[1].ids:
        raise SystemExit(f"{out}: other records than {crossfit}")
    rows, first = pair_target(sets[0].labels)
    a, b = CLASSES.index(PAIR[0]), CLASSES.index(PAIR[1])
    with atomic_output(path) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["member", "first_score_auroc", "difference_auroc", "first_only", "second_only"])
        for oof in sets:
            for name, scores in zip(oof.members, oof.scores):
                difference = "" if name == MEMBER else f"{roc_auc(first, scores[rows, a] - scores[rows, b]):.4f}"
                writer.writerow([name, f"{roc_auc(first, scores[rows, a]):.4f}", difference, int(first.sum()),
                                 int(len(first) - first.sum())])
    print(path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossfit", type=Path, required=True, help="the baseline's folder: its folds.tsv is used")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--fold", type=int, action="append", default=None, help="only these folds (repeatable)")
    parser.add_argument("--members", nargs="+", default=["qrnn_motif_coding", "regression", "forest"],
                        help="--results: the baseline's members to list beside the specialist")
    parser.add_argument("--results", type=Path, help="write each member's own pair AUROC here once every fold is done")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.out.resolve() == args.crossfit.resolve():
        parser.error("--out must be a working folder of its own, not the --crossfit folder it reads")
    data = read_labelled(args.data_dir, CLASSES)
    member_dir = args.out / MEMBER
    member_dir.mkdir(parents=True, exist_ok=True)
    folds = adopt_folds(args.out, args.crossfit, data)
    atomic_write_text(member_dir / "source.json", json.dumps(
        {"member": MEMBER, "features": CODING_UTR, "pair": list(PAIR), "data_dir": str(args.data_dir), **RECIPE.record()},
        indent=2))
    rows, target = pair_target(data.labels)
    x = None
    for fold in args.fold or range(5):
        run_dir = member_dir / f"fold{fold}"
        if (run_dir / OOF_FILE).exists():  # done: no lock file left in a committed folder
            continue
        with fold_lock(run_dir) as mine:
            if not mine or (run_dir / OOF_FILE).exists():
                continue
            x = cached_inputs(member_dir / "inputs.npy", data.codes) if x is None else x  # only when a fold is fitted
            fit_rows = folds[rows] != fold
            forest = fit_forest(x[rows[fit_rows]], target[fit_rows, None], ["+".join(PAIR)], features=CODING_UTR,
                                recipe=RECIPE)
            forest.save(run_dir / "model.npz")
            held = np.flatnonzero(folds == fold)
            score = forest.scores(x[held])[:, 0]
            atomic_write_text(run_dir / "fold.json", json.dumps(
                {"member": MEMBER, "fold": fold, "fitted_records": int(fit_rows.sum()),
                 "fitted_first": int(target[fit_rows].sum()), "scored_records": len(held),
                 "trees_fitted": forest.trees_fitted, **RECIPE.record()}, indent=2))
            write_oof(run_dir / OOF_FILE, [data.ids[i] for i in held], np.repeat(score[:, None], len(CLASSES), 1), 0)
            logging.info("fold %d: fitted on %d records (%d %s), scored %d", fold, fit_rows.sum(),
                         target[fit_rows].sum(), PAIR[0], len(held))
    if args.results:
        write_alone(args.results, args.crossfit, args.out, args.data_dir, args.members)


if __name__ == "__main__":
    main()
