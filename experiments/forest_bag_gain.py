"""What a bag of forests adds to the cross-fitted blend, paired over the same records.

Why: the forest is the member the blend leans on most (0.756 macro AUROC out of fold alone,
the blend 0.771), and one gradient-boosted forest per class depends on the 15 % of its
training part its early stopping holds out. ``rnaloc-train crossfit --member forest
--forest-bags 3`` averages three forests per class, each stopping on its own split. This
scores the released blend (network, regression, forest; with the class mixing) and the same
blend with the bagged forest, both nested on the same folds
(:func:`rnaloc_infer.training.crossfit_blend.nested`), and bootstraps the paired difference
over records: per class, macro, macro without Exosome, the Nucleus-only vs Cytosol-only
logit-difference AUROC and the Nucleus/Cytosol log-odds correlation
(:func:`class_mixing_gain.write_paired_gain`).

    python experiments/forest_bag_gain.py --crossfit artifacts/crossfit --candidate artifacts/crossfit_bag3 \\
        --data-dir ../shared/data --members qrnn_motif_coding regression forest \\
        --out experiments/results/forest_bag_gain.tsv

Any other change of members compares the same way, with ``--names`` for the two columns
(experiments/PREREGISTERED.md's candidates), and ``--candidate-members`` when the candidate adds
a member (``nc_specialist_crossfit.py``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from class_mixing_gain import write_paired_gain
from rnaloc_infer.evaluation.bootstrap import RESAMPLES
from rnaloc_infer.training.crossfit_blend import gather, nested


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossfit", type=Path, required=True, help="cross-fitting folder of the released members")
    parser.add_argument("--candidate", type=Path, required=True,
                        help="cross-fitting folder with the same folds and member names, the bagged forest as 'forest'")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--members", nargs="+", required=True)
    parser.add_argument("--candidate-members", nargs="+", default=None,
                        help="the candidate's members (default: --members; a candidate may add a member)")
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--names", nargs=2, default=("one_forest", "bag_of_forests"), metavar=("BASE", "CANDIDATE"),
                        help="column names of the two blends (any two folders with the same member names compare)")
    parser.add_argument("--folds", type=int, nargs="+", default=None,
                        help="only these folds' records (default: all; a candidate chosen on one fold is judged on the others)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    base = gather(args.crossfit, args.data_dir, members=args.members, folds=args.folds)
    candidate_members = args.candidate_members or args.members
    candidate = gather(args.candidate, args.data_dir, members=candidate_members, folds=args.folds)
    if args.folds:  # numbered 0..len-1 for the nesting, which scores every fold number up to the largest
        base, candidate = (replace(oof, folds=np.searchsorted(sorted(args.folds), oof.folds)) for oof in (base, candidate))
    if list(base.ids) != list(candidate.ids) or not np.array_equal(base.folds, candidate.folds):
        raise SystemExit(f"{args.candidate}: other records or folds than {args.crossfit}")
    before, _, _ = nested(base, class_mixing=True)
    after, _, _ = nested(candidate, class_mixing=True)
    write_paired_gain(args.out, base.labels, base.classes, before, after, tuple(args.names), candidate_members,
                      args.resamples)


if __name__ == "__main__":
    main()
