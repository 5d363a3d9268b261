"""Equal vs stacked member weights for the default's four members, in and out of fold (issue 20).

Why: ``rnaloc-train ensemble --blend stacked`` fits per-class member weights on valid
(training/stacking.py). Valid figures of such a blend are in-sample for its weights, so this
reports, side by side, the equal blend and the stacked one both in sample and **out of fold**
(repeated stratified 5-fold within valid: weights and calibration fitted on four fifths, the
held-out fifth scored, probabilities pooled), and a paired bootstrap (records resampled) of
the out-of-fold gain. The members are the shipped default's (two networks, the k-mer/coding
regression, the k-mer/UTR forest), their scores read from ``experiments/profile_heads.py``'s
cache (run its extraction first) and the forest's file; each is standardised on train as
``rnaloc-train ensemble`` does.

    python experiments/blend_weights.py --cache cache --regression artifacts/kmer_coding_logreg.npz \\
        --forest artifacts/kmer_coding_utr_forest.npz --out experiments/results/blend_weights.tsv
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import numpy as np

from tree_heads import CLASSES, NOT_EXOSOME, default_members, logit, standardise
from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.evaluation.specificity import specificity_report
from rnaloc_infer.features.registry import CODING_UTR
from rnaloc_infer.training.forest import load_forest
from rnaloc_infer.training.stacking import members_table, stack_members

MEMBERS = ("qrnn", "qrnn_coding", "regression", "forest")


def forest_scores(cache: Path, path: Path) -> tuple:
    """(train, valid) scores of the forest on the cached k-mer, protein and UTR columns (its inputs, in order)."""
    forest = load_forest(path)
    blocks = ("kmer", "coding", "utr") if forest.features == CODING_UTR else ("kmer", "coding")
    return tuple(forest.scores(np.hstack([np.load(cache / f"{split}_{b}.npy") for b in blocks]).astype(np.float32))
                 for split in ("train", "valid"))


def aurocs(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.array([roc_auc(y[:, k], scores[:, k]) for k in range(y.shape[1])])


def summary(a: np.ndarray) -> dict:
    return {**dict(zip(CLASSES, a)), "macro": float(a.mean()), "without_exosome": float(a[NOT_EXOSOME].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--regression", type=Path, required=True)
    parser.add_argument("--forest", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--bootstrap", type=int, default=2000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    y = np.load(args.cache / "valid_labels.npy")
    members = {**default_members(args.cache, args.regression), "forest": forest_scores(args.cache, args.forest)}
    z = np.stack([standardise(*members[name]) for name in MEMBERS], axis=2)  # records, classes, members
    stacked = stack_members(z, y)
    in_sample = {"equal": aurocs(y, z.mean(axis=2)), "stacked": aurocs(y, (z * stacked.weights[None]).sum(axis=2))}
    out_of_fold = {"equal": stacked.equal_cv_auroc, "stacked": stacked.cv_auroc}
    rows = []
    for kind, figures in (("in_sample", in_sample), ("out_of_fold", out_of_fold)):
        for blend, a in figures.items():
            rows.extend({"section": kind, "blend": blend, "figure": k, "value": round(v, 4), "low": "", "high": ""}
                        for k, v in summary(a).items())
    # paired bootstrap of the out-of-fold gain (first repeat's pooled held-out probabilities)
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(args.bootstrap):
        idx = rng.integers(0, len(y), len(y))
        if (y[idx].min(axis=0) == y[idx].max(axis=0)).any():
            continue
        gains.append(summary(aurocs(y[idx], stacked.cv_probs[0][idx]) - aurocs(y[idx], stacked.equal_cv_probs[0][idx])))
    point = summary(aurocs(y, stacked.cv_probs[0]) - aurocs(y, stacked.equal_cv_probs[0]))
    for k in point:
        low, high = np.percentile([g[k] for g in gains], [2.5, 97.5])
        rows.append({"section": "out_of_fold_gain", "blend": "stacked-equal", "figure": k, "value": round(point[k], 4),
                     "low": round(low, 4), "high": round(high, 4)})
    # which compartment: pairs on the held-out log-odds
    for blend, p in (("equal", stacked.equal_cv_probs[0]), ("stacked", stacked.cv_probs[0])):
        for pair in specificity_report(y, logit(p), CLASSES).pairs:
            rows.append({"section": "out_of_fold_pairs", "blend": blend, "figure": f"{pair.first}_only_vs_{pair.second}_only",
                         "value": round(pair.auroc, 4), "low": "", "high": ""})
    for cls, shares in members_table(list(MEMBERS), CLASSES, stacked.weights).items():
        rows.extend({"section": "weight_share", "blend": "stacked", "figure": f"{cls}/{m}", "value": v, "low": "", "high": ""}
                    for m, v in shares.items())
    rows.append({"section": "penalty", "blend": "stacked", "figure": "C", "value": stacked.c, "low": "", "high": ""})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        if row["section"] != "weight_share":
            print("\t".join(str(v) for v in row.values()))


if __name__ == "__main__":
    main()
