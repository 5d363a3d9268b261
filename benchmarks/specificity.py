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
        --out benchmarks/results/specificity_valid.tsv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from rnaloc_infer.evaluation.labels import match_labels, read_labels
from rnaloc_infer.evaluation.specificity import format_report, specificity_report


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="NAME=predictions.tsv")
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--fasta", type=Path, default=None, help="records to score NAME=file.npz regressions on")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    labels = read_labels(args.labels)
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
        report = specificity_report(y, scores, labels.classes)
        print(f"== {name}\n{format_report(report)}\n")
        table[name] = {}
        for row in report.rows():
            key = (row["section"], row["name"])
            if key not in [(k[0], k[1]) for k in keys]:
                keys.append((row["section"], row["name"], str(row["n"])))
            table[name][key] = row["value"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["section", "name", "n", *table])
            for section, name, n in keys:
                writer.writerow([section, name, n, *(f"{table[m].get((section, name), float('nan')):.4f}" for m in table)])


if __name__ == "__main__":
    main()
