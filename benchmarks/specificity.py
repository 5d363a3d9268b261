"""Specificity of models on the validation split: which compartment, or how many? (issue 20)

Reads prediction tables (``rnaloc-infer`` output: an ``id`` column and one probability
column per class; ``#`` comment lines are skipped) and the labels TSV, and writes the
figures of :mod:`rnaloc_infer.evaluation.specificity` for each model side by side. A
``NAME=file.npz`` is a k-mer regression (``rnaloc-train regression``, e.g. the k-mer
baseline ``artifacts/kmer_logreg.npz``) scored here on ``--fasta`` (needs the [train] extra).

    rnaloc-infer ../shared/data/dm3loc_valid.fa.gz -o /tmp/default.tsv
    rnaloc-infer ../shared/data/dm3loc_valid.fa.gz --model fast -o /tmp/fast.tsv
    python benchmarks/specificity.py --labels ../shared/data/dm3loc_valid_labels.tsv \\
        --fasta ../shared/data/dm3loc_valid.fa.gz \\
        default=/tmp/default.tsv fast=/tmp/fast.tsv kmer_lr=artifacts/kmer_logreg.npz \\
        --train-labels ../shared/data/dm3loc_train_labels.tsv --bootstrap 2000 \\
        --out benchmarks/results/specificity_valid.tsv

With ``--train-labels`` every model is also scored on its relative profile
(rnaloc_infer.profile, what ``rnaloc-infer --profile`` writes, against the train split's
class prevalence) as ``NAME/profile``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from rnaloc_infer.evaluation.labels import match_labels, read_labels
from rnaloc_infer.evaluation.specificity import format_report, specificity_report
from rnaloc_infer.profile import prevalence_from_labels, relative_profile


def read_predictions(path: Path, classes: List[str]) -> Tuple[List[str], np.ndarray]:
    with open(path, newline="") as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        ids, values = [], []
        for row in rows:
            ids.append(row["id"])
            values.append([float(row[c]) for c in classes])
    return ids, np.asarray(values)


def regression_predictions(path: Path, fasta: Path, classes: List[str]) -> Tuple[List[str], np.ndarray]:
    """Sigmoid of a saved k-mer regression's scores on every record of ``fasta``."""
    from rnaloc_infer.fasta import Record, read_file
    from rnaloc_infer.training.regression import feature_matrix, load_logreg

    regression = load_logreg(path)
    records = [r for r in read_file(fasta) if isinstance(r, Record)]
    x = feature_matrix([r.codes for r in records], regression.ks, coding=bool(regression.features))
    scores = regression.scores(x)[:, [regression.classes.index(c) for c in classes]]
    return [r.id for r in records], 1 / (1 + np.exp(-scores))


def pair_intervals(y: np.ndarray, scores: np.ndarray, classes: List[str], resamples: int,
                   seed: int = 0) -> List[Tuple[str, str, float, float]]:
    """95 % percentile bootstrap intervals of each pair AUROC (A-only and B-only records
    resampled separately, so both group sizes stay fixed): (section, pair name, low, high)."""
    from rnaloc_infer.evaluation.metrics import roc_auc
    from rnaloc_infer.evaluation.specificity import DEFAULT_PAIRS
    from rnaloc_infer.profile import log2_odds

    rng = np.random.default_rng(seed)
    views = [("pair_auroc", scores)]
    if np.all((scores >= 0) & (scores <= 1)):
        views.append(("pair_auroc_log_odds", log2_odds(scores)))
    out = []
    for first, second in DEFAULT_PAIRS:
        a, b = classes.index(first), classes.index(second)
        first_only = np.flatnonzero((y[:, a] == 1) & (y[:, b] == 0))
        second_only = np.flatnonzero((y[:, b] == 1) & (y[:, a] == 0))
        truth = np.r_[np.ones(len(first_only), np.int8), np.zeros(len(second_only), np.int8)]
        for section, values in views:
            diff = values[:, a] - values[:, b]
            draws = [roc_auc(truth, np.r_[diff[rng.choice(first_only, len(first_only))],
                                          diff[rng.choice(second_only, len(second_only))]])
                     for _ in range(resamples)]
            low, high = np.percentile(draws, [2.5, 97.5])
            out.append((section, f"{first}-only_vs_{second}-only", float(low), float(high)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="NAME=predictions.tsv")
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--fasta", type=Path, default=None, help="records to score NAME=file.npz regressions on")
    ap.add_argument("--train-labels", type=Path, default=None,
                    help="also score each model's relative profile against this split's class prevalence")
    ap.add_argument("--bootstrap", type=int, default=0, metavar="N",
                    help="also N-resample 95 %% intervals of the pair AUROCs (rows *_ci95_low / *_ci95_high)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    labels = read_labels(args.labels)
    prevalence = prevalence_from_labels(read_labels(args.train_labels, labels.classes).y) if args.train_labels else None
    table: Dict[str, Dict[Tuple[str, str], object]] = {}
    keys: List[Tuple[str, str, str]] = []
    for spec in args.models:
        name, _, path = spec.partition("=")
        if path.endswith(".npz"):
            if args.fasta is None:
                ap.error(f"{spec}: a regression needs --fasta")
            ids, scores = regression_predictions(Path(path), args.fasta, labels.classes)
        else:
            ids, scores = read_predictions(Path(path), labels.classes)
        y = match_labels(ids, labels)
        variants = [(name, scores)]
        if prevalence is not None:
            variants.append((f"{name}/profile", relative_profile(scores, prevalence)[1]))
        for variant, values in variants:
            report = specificity_report(y, values, labels.classes)
            print(f"== {variant}\n{format_report(report)}\n")
            table[variant] = {}
            rows = report.rows()
            for section, pair, low, high in pair_intervals(y, values, labels.classes, args.bootstrap) if args.bootstrap else ():
                rows += [{"section": f"{section}_ci95_low", "name": pair, "value": low, "n": ""},
                         {"section": f"{section}_ci95_high", "name": pair, "value": high, "n": ""}]
            for row in rows:
                key = (row["section"], row["name"])
                if key not in [(k[0], k[1]) for k in keys]:
                    keys.append((row["section"], row["name"], str(row["n"])))
                table[variant][key] = row["value"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["section", "name", "n", *table])
            for section, name, n in keys:
                writer.writerow([section, name, n, *(f"{table[m].get((section, name), float('nan')):.4f}" for m in table)])


if __name__ == "__main__":
    main()
