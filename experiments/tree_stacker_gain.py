"""Trees as the stacker: does the linear blend leave interactions between members' scores?
(experiments/PREREGISTERED.md, candidate E.)

Why: the released blend is linear (per class a weighted sum of standardised member scores,
Platt scaling, a linear class mixing of the six log-odds). Here, per class, one
gradient-boosted forest with the forest member's fixed settings
(:data:`rnaloc_infer.training.forest.SETTINGS`) reads all of a record's standardised member
scores (members times classes) and its decision score is the class's log-odds. Both stackers
are nested on the same folds (fitted on four folds' out-of-fold scores, the fifth scored) and
the paired gain is bootstrapped over the records (:func:`class_mixing_gain.write_paired_gain`).

    python experiments/tree_stacker_gain.py --crossfit artifacts/crossfit_bag3 --data-dir ../shared/data \\
        --members qrnn_motif_coding regression forest --out experiments/results/tree_stacker_gain.tsv
"""

from __future__ import annotations

import logging

import numpy as np

from class_mixing_gain import blend_arguments, write_paired_gain
from rnaloc_infer.training.crossfit_blend import OutOfFold, gather, nested
from rnaloc_infer.training.forest import SETTINGS
from rnaloc_infer.training.stacking import member_standardisation, standardise


def tree_stacked(oof: OutOfFold) -> np.ndarray:
    """(records, classes) nested log-odds of the tree stacker: each fold by trees fitted on the others."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    odds = np.zeros(oof.labels.shape)
    for fold in range(int(oof.folds.max()) + 1):
        fit_rows, held = np.flatnonzero(oof.folds != fold), np.flatnonzero(oof.folds == fold)
        mean, std = member_standardisation(oof.members, oof.classes, [s[fit_rows] for s in oof.scores])
        x = standardise(oof.scores, mean, std).reshape(len(oof.labels), -1)  # (records, classes * members)
        for c, name in enumerate(oof.classes):
            trees = HistGradientBoostingClassifier(**SETTINGS).fit(x[fit_rows], oof.labels[fit_rows, c])
            odds[held, c] = trees.decision_function(x[held])
            logging.info("fold %d %s: %d trees", fold, name, trees.n_iter_)
    return odds


def main() -> None:
    args = blend_arguments(__doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    oof = gather(args.crossfit, args.data_dir, members=args.members)
    linear, _, _ = nested(oof, class_mixing=True)
    write_paired_gain(args.out, oof.labels, oof.classes, linear, tree_stacked(oof), ("linear_blend", "tree_stacker"),
                      args.members, args.resamples)


if __name__ == "__main__":
    main()
