"""Cross-fit the k-mer + coding regression with the UTRs' k-mer columns added (candidate B of
experiments/PREREGISTERED.md), into a cross-fitting folder the blend reads.

Why: the forest gained 0.018 macro AUROC on valid from the UTR k-mer columns (docs/RESULTS.md,
"UTR k-mers in the trees"), the regression never read them. This fits exactly the regression
member's recipe (:func:`rnaloc_infer.training.regression.fit_regression`: C chosen per fold on
an 80/20 split of the training part) on the whole-record k-mers, the protein features and the
``coding-utr-v1`` UTR columns, per fold of the folder's ``folds.tsv``, and writes each fold's
``oof.npz`` and ``fold.json`` where ``rnaloc-train crossfit`` puts the regression's, so
``experiments/forest_bag_gain.py`` (any two folders with the same member names) can compare.

    python experiments/regression_utr_crossfit.py --out /work/cf_reg_utr --data-dir ../shared/data
        # folds.tsv (and the other members) copied from artifacts/crossfit first
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from rnaloc_infer.features.coding import N_FEATURES
from rnaloc_infer.features.registry import CODING_UTR, record_feature_matrix
from rnaloc_infer.output.files import atomic_write_text
from rnaloc_infer.training.crossfit import OOF_FILE, fold_plan, read_labelled, subset, write_oof
from rnaloc_infer.training.models import CLASSES
from rnaloc_infer.training.regression import feature_matrix, fit_regression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="cross-fitting folder holding folds.tsv")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    data = read_labelled(args.data_dir, CLASSES)
    folds = fold_plan(args.out, data, args.folds, 0)  # refused when it disagrees with folds.tsv
    x = np.hstack([feature_matrix(data.codes, coding=True),
                   record_feature_matrix(data.codes, CODING_UTR)[:, N_FEATURES:].astype(np.float64)])
    logging.info("%d records x %d columns", *x.shape)
    for fold in range(args.folds):
        run_dir = args.out / "regression" / f"fold{fold}"
        if (run_dir / OOF_FILE).exists():
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        rest, held = np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)
        fitted = fit_regression(subset(data, rest), x=x[rest])
        atomic_write_text(run_dir / "fold.json", json.dumps({"member": "regression", "features": CODING_UTR, "fold": fold,
                                                             "fitted_records": len(rest), "C": fitted.C}, indent=2))
        write_oof(run_dir / OOF_FILE, [data.ids[i] for i in held], fitted.scores(x[held]), 0)
        logging.info("fold %d: C = %g", fold, fitted.C)


if __name__ == "__main__":
    main()
