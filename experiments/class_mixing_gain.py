"""What the class mixing adds to the cross-fitted blend, paired over the same records.

Why: ``crossfit-blend --class-mixing`` was chosen after a look at out-of-fold figures (the
per-class blend scored 0.759 macro AUROC, with the mixing 0.771). This scores both blends
nested on the same folds (:func:`rnaloc_infer.training.crossfit_blend.nested`: every fold by a
blend, and a mixing, fitted on the other four) and bootstraps the paired difference over
records, so the gain carries its own interval: per class, macro, macro without Exosome, the
Nucleus-only vs Cytosol-only logit-difference AUROC, and the Nucleus/Cytosol log-odds
correlation.

    python experiments/class_mixing_gain.py --crossfit /work/crossfit --data-dir ../shared/data \\
        --members qrnn_motif_coding regression forest --out experiments/results/class_mixing_gain.tsv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from rnaloc_infer.evaluation import metrics
from rnaloc_infer.evaluation.bootstrap import RESAMPLES, bootstrap_draws, interval
from rnaloc_infer.evaluation.specificity import only_one_of
from rnaloc_infer.output.files import atomic_output, atomic_write_text
from rnaloc_infer.training.crossfit import FOLDS_FILE, fold_plan
from rnaloc_infer.training.crossfit_blend import PAIR, gather, nested
from rnaloc_infer.training.data import SequenceSet


def aurocs(labels: np.ndarray, odds: np.ndarray, classes: list) -> np.ndarray:
    """Per class AUROC, then macro and macro without Exosome."""
    per = np.array([metrics.roc_auc(labels[:, c], odds[:, c]) for c in range(len(classes))])
    keep = [c for c, name in enumerate(classes) if name != "Exosome"]
    return np.concatenate([per, [per.mean(), per[keep].mean()]])


def summary(labels: np.ndarray, odds: np.ndarray, classes: list) -> np.ndarray:
    """:func:`aurocs`, then the pair AUROC and the pair's correlation."""
    a, b = classes.index(PAIR[0]), classes.index(PAIR[1])
    first, second = only_one_of(labels, a, b)
    rows = first | second
    pair = metrics.roc_auc(first[rows].astype(float), odds[rows, a] - odds[rows, b])
    corr = np.corrcoef(odds[:, a], odds[:, b])[0, 1]
    return np.concatenate([aurocs(labels, odds, classes), [pair, corr]])


def write_paired_gain(out: Path, labels: np.ndarray, classes: list, before: np.ndarray, after: np.ndarray,
                      columns: tuple, members: list, resamples: int) -> None:
    """:func:`summary` of two sets of log-odds of the same records, the gain and its paired
    bootstrap interval (``resamples`` draws of the records, seed 0), as a TSV whose first two
    value columns are named ``columns``."""
    names = [*classes, "macro", "macro_without_exosome", "nucleus_only_vs_cytosol_only", "corr_logit_nucleus_cytosol"]

    def paired(rows: np.ndarray) -> np.ndarray:
        return np.concatenate([summary(labels[rows], before[rows], classes), summary(labels[rows], after[rows], classes)])

    point = paired(np.arange(len(labels)))
    draws = bootstrap_draws(paired, len(labels), resamples, 0)
    n = len(names)
    gain_low, gain_high = interval(draws[:, n:] - draws[:, :n])
    with atomic_output(out) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["figure", *columns, "gain", "gain_low", "gain_high", "records", "members"])
        for i, name in enumerate(names):
            writer.writerow([name, f"{point[i]:.4f}", f"{point[n + i]:.4f}", f"{point[n + i] - point[i]:+.4f}",
                             f"{gain_low[i]:+.4f}", f"{gain_high[i]:+.4f}", len(labels), "+".join(members)])
    print(out.read_text())


def write_variant_gain(path: Path, columns: Tuple[str, str], order: List[str], labels: np.ndarray, classes: List[str],
                       odds: Dict[str, np.ndarray], member_aurocs: Dict[str, np.ndarray], resamples: int) -> None:
    """Per variant of ``order`` (the first is the reference) and figure (each class, macro,
    macro without Exosome): the member's own AUROC, the blend's, and the blend's paired gain over
    the reference's with its bootstrap interval over the records. ``columns``: the names of the
    variant and member-AUROC columns."""
    names = [*classes, "macro", "macro_without_exosome"]

    def stats(rows: np.ndarray) -> np.ndarray:
        return np.concatenate([aurocs(labels[rows], odds[m][rows], classes) for m in order])

    point = stats(np.arange(len(labels)))
    draws = bootstrap_draws(stats, len(labels), resamples, 0)
    n = len(names)
    with atomic_output(path) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow([columns[0], "figure", columns[1], "blend_auroc", "blend_gain", "gain_low", "gain_high", "records"])
        for j, variant in enumerate(order):
            gain = draws[:, j * n:(j + 1) * n] - draws[:, :n]
            low, high = interval(gain)
            for i, name in enumerate(names):
                value = point[j * n + i]
                writer.writerow([variant, name, f"{member_aurocs[variant][i]:.4f}", f"{value:.4f}",
                                 f"{value - point[i]:+.4f}", f"{low[i]:+.4f}", f"{high[i]:+.4f}", len(labels)])


def adopt_folds(out: Path, crossfit: Path, data: SequenceSet) -> np.ndarray:
    """The folds of ``crossfit`` (its ``folds.tsv`` copied into ``out`` on first use, whole or not
    at all: a second process may read it at once), checked against ``data``: a candidate is
    fitted on its baseline's folds or not at all."""
    if not (out / FOLDS_FILE).exists():
        atomic_write_text(out / FOLDS_FILE, (crossfit / FOLDS_FILE).read_text())
    return fold_plan(out, data, 5, 0)


def blend_arguments(description: str) -> argparse.Namespace:
    """The options of a script that compares two blends of one cross-fitting folder's members."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--crossfit", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--members", nargs="+", required=True)
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def main() -> None:
    args = blend_arguments(__doc__.splitlines()[0])
    oof = gather(args.crossfit, args.data_dir, members=args.members)
    plain, _, _ = nested(oof)
    mixed, _, _ = nested(oof, class_mixing=True)
    write_paired_gain(args.out, oof.labels, oof.classes, plain, mixed, ("without_mixing", "with_mixing"), args.members,
                      args.resamples)


if __name__ == "__main__":
    main()
