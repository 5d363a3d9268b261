"""Does a stronger network earn its place in the blend? Stride 4 and width 128 against the
released network, on fold 0 of the cross-fitting (issue 33, "stronger networks").

Why one fold: a variant's fold costs 2-3x the released network's (35-60 min on a shared core),
five folds of each would take most of a day. On fold 0's 2,768 records (scored by networks that
never saw them), each variant replaces the released network (``qrnn_motif_coding``) in the
three-member blend; the blend is fitted and scored nested within fold 0 (five sub-folds,
stratified on the label sets, :func:`rnaloc_infer.training.crossfit_blend.nested`), with the
class mixing as released. Paired over the same records: per class AUROC, macro and macro
without Exosome, and the gain over the released network with a bootstrap interval.

    python experiments/network_variants_fold0.py --crossfit /work/crossfit --data-dir ../shared/data \\
        --variants qrnn_motif_coding_s4 qrnn_motif_coding_w128 --out experiments/results/network_variants_fold0.tsv
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


from class_mixing_gain import aurocs, write_variant_gain
from rnaloc_infer.evaluation.bootstrap import RESAMPLES
from rnaloc_infer.training.crossfit import assign_folds
from rnaloc_infer.training.crossfit_blend import gather, nested

RELEASED = "qrnn_motif_coding"
OTHERS = ["regression", "forest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossfit", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--variants", nargs="+", required=True)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=RESAMPLES)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    odds, member_aurocs = {}, {}
    for network in [RELEASED, *args.variants]:
        oof = gather(args.crossfit, args.data_dir, members=[network, *OTHERS], folds=[args.fold])
        oof = replace(oof, folds=assign_folds(oof.labels, 5, 0))  # sub-folds within the fold
        odds[network], _, _ = nested(oof, class_mixing=True)
        member_aurocs[network] = aurocs(oof.labels, oof.scores[0], oof.classes)
    write_variant_gain(args.out, ("network", "member_auroc"), [RELEASED, *args.variants], oof.labels, oof.classes, odds,
                       member_aurocs, args.resamples)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
