"""What each cross-fitted member adds to the blend, on the folds every compared member has finished.

Why: member 1 (``qrnn_motif_long``) costs 48 min per fold on one core and its refit on all
13,837 records about an hour; this measures, before its last folds finish, whether it earns
its place. For each member set, the blend of ``rnaloc-train crossfit-blend`` is fitted and
scored nested (leave one finished fold out, :func:`rnaloc_infer.training.crossfit_blend.nested`)
on the records of the folds that every member of the widest set has finished, so all sets are
judged on the same records.

    python experiments/crossfit_member_value.py --crossfit /work/crossfit --data-dir ../shared/data \\
        --out experiments/results/crossfit_member_value.tsv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from rnaloc_infer.training.crossfit_blend import PAIR, OutOfFold, figures, gather, nested

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
SETS = {
    "default (all four)": ["qrnn_motif_long", "qrnn_motif_coding", "regression", "forest"],
    "without member 1": ["qrnn_motif_coding", "regression", "forest"],
    "without member 2": ["qrnn_motif_long", "regression", "forest"],
    "without both networks": ["regression", "forest"],
    "fast (member 1 + regression)": ["qrnn_motif_long", "regression"],
    "member 2 + regression": ["qrnn_motif_coding", "regression"],
}


def finished_folds(crossfit: Path, member: str) -> set:
    return {int(p.parent.name[4:]) for p in (crossfit / member).glob("fold*/oof.npz")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossfit", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS),
                        help="member sets to compare (default: all); each costs five stacking fits per fold")
    args = parser.parse_args()
    sets = {name: SETS[name] for name in args.sets}
    members = sorted({m for s in sets.values() for m in s})
    folds_done = sorted(set.intersection(*(finished_folds(args.crossfit, m) for m in members)))
    if len(folds_done) < 2:
        raise SystemExit(f"need at least two folds finished by every member; have {folds_done}")
    everything = gather(args.crossfit, args.data_dir, members=members, classes=CLASSES, folds=folds_done)
    scores = dict(zip(everything.members, everything.scores))
    ids, y = everything.ids, everything.labels
    folds = np.searchsorted(folds_done, everything.folds)  # 0.. in order: nested() leaves each out in turn
    pair = (CLASSES.index(PAIR[0]), CLASSES.index(PAIR[1]))
    rows = []
    for name, chosen in sets.items():
        oof = OutOfFold(ids, folds, y, CLASSES, chosen, [scores[m] for m in chosen], [])
        odds, decided, _ = nested(oof)
        values = figures(y, odds, decided, pair)
        n = len(CLASSES)
        aurocs = values[:n]
        macro = values[3 * n]
        pair_auc, corr = values[-2], values[-1]
        rows.append([name, "+".join(chosen), ",".join(map(str, folds_done)), len(ids),
                     *(f"{a:.4f}" for a in aurocs), f"{macro:.4f}", f"{pair_auc:.4f}", f"{corr:.4f}"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["set", "members", "folds", "records", *CLASSES, "macro_auroc",
                         "nucleus_only_vs_cytosol_only_auroc", "corr_logit_nucleus_cytosol"])
        writer.writerows(rows)
    print(args.out.read_text(), end="")


if __name__ == "__main__":
    main()
