"""k-mer logistic-regression and length-only baselines for the DM3Loc split: the measurement.

Why: any neural model in this project has to beat what plain composition statistics
and sequence length already give; these figures are the floor in docs/BASELINE.md and
docs/MODEL_CARD.md.

The regression (features, C chosen on train only, fit) is the one the shipped ensemble
uses, from :mod:`rnaloc_infer.training.regression`; fit and save it for an ensemble with
``rnaloc-train regression``. This script only scores it on valid.

Length-only score: log10(length) per class, with the sign chosen per class on train
(the sign with train AUROC >= 0.5), scored on valid.

Run from the repository root::

    python benchmarks/kmer_baseline.py --data-dir ../shared/data --out benchmarks/results/kmer_baseline.tsv
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from rnaloc_infer.training.data import read_split, split_paths
from rnaloc_infer.training.models import CLASSES
from rnaloc_infer.training.regression import feature_matrix, fit_regression

logger = logging.getLogger("kmer_baseline")


def per_class(y: np.ndarray, s: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-class AUROC and AUPRC (scikit-learn, the reference implementation)."""
    auroc = np.array([roc_auc_score(y[:, j], s[:, j]) for j in range(y.shape[1])])
    auprc = np.array([average_precision_score(y[:, j], s[:, j]) for j in range(y.shape[1])])
    return auroc, auprc


def write_tsv(path: Path, rows: List[Tuple]) -> None:
    """Machine-readable results: method, class, auroc, auprc (class 'macro' = mean)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["method", "class", "auroc", "auprc", "n_valid", "n_valid_pos"])
        for row in rows:
            w.writerow(row)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/kmer_baseline.tsv"))
    ap.add_argument("--c", type=float, default=None, help="fix C instead of tuning it on train")
    ap.add_argument("--coding", action="store_true",
                    help="add the encoded protein's features (longest ORF: hydropathy, amino acid and codon "
                         "usage; rnaloc_infer.features.coding) to the k-mer frequencies")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    t0 = time.time()
    train = read_split(*split_paths(args.data_dir, "train"), CLASSES)
    valid = read_split(*split_paths(args.data_dir, "valid"), CLASSES)
    x_tr, x_va = feature_matrix(train.codes, coding=args.coding), feature_matrix(valid.codes, coding=args.coding)
    y_tr, y_va = train.labels.astype(np.int64), valid.labels.astype(np.int64)
    logger.info("features %s / %s in %.1fs", x_tr.shape, x_va.shape, time.time() - t0)

    fitted = fit_regression(train, coding=args.coding, c=args.c, x=x_tr)
    auroc_k, auprc_k = per_class(y_va, fitted.scores(x_va))

    # Length-only: sign per class from train AUROC.
    logl_tr, logl_va = np.log10(train.lengths), np.log10(valid.lengths)
    signs = np.array(
        [1.0 if roc_auc_score(y_tr[:, j], logl_tr) >= 0.5 else -1.0 for j in range(len(CLASSES))]
    )
    auroc_l, auprc_l = per_class(y_va, logl_va[:, None] * signs[None, :])

    n_va, pos = len(y_va), y_va.sum(axis=0)
    rows: List[Tuple] = []
    for name, auroc, auprc in (
        (f"kmer1-5{'+coding' if args.coding else ''}_logreg_C{fitted.C:g}", auroc_k, auprc_k),
        ("log_length", auroc_l, auprc_l),
    ):
        for j, cls in enumerate(CLASSES):
            rows.append((name, cls, f"{auroc[j]:.4f}", f"{auprc[j]:.4f}", n_va, int(pos[j])))
        rows.append((name, "macro", f"{auroc.mean():.4f}", f"{auprc.mean():.4f}", n_va, ""))
    write_tsv(args.out, rows)
    logger.info("length-only signs (train): %s", dict(zip(CLASSES, signs.astype(int).tolist())))
    for row in rows:
        logger.info("%s", "\t".join(str(v) for v in row))
    logger.info("wrote %s in %.1fs total", args.out, time.time() - t0)


if __name__ == "__main__":
    main()
