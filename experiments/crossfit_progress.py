"""Out-of-fold AUROC per member over the cross-fitting folds finished so far (issue 33).

Why: the cross-fitting trainings take hours on two cores and span sessions; this reads the
folds that are done (``oof.npz``) and says how each member ranks the records it never saw,
per class, with the correlation of its Nucleus and Cytosol logits ("how many" vs "which").

    python experiments/crossfit_progress.py --crossfit artifacts/crossfit --data-dir ../shared/data \\
        --out experiments/results/crossfit_progress.tsv

``--folds 0`` compares members on the same records only (the network variants of issue 33,
stride 4 and width 128, were run on fold 0 alone):

    python experiments/crossfit_progress.py --crossfit /work/crossfit --data-dir ../shared/data \\
        --folds 0 --out experiments/results/crossfit_network_variants_fold0.tsv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from rnaloc_infer.evaluation.labels import read_labels
from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.output.files import atomic_output
from rnaloc_infer.training.crossfit import read_oof

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossfit", type=Path, required=True, help="cross-fitting directory (rnaloc-train crossfit --out)")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--folds", type=int, nargs="+", default=None,
                        help="only these folds; a member that lacks one of them is left out")
    args = parser.parse_args()
    labels = {}
    for split in ("train", "valid"):
        table = read_labels(args.data_dir / f"dm3loc_{split}_labels.tsv", CLASSES)
        labels.update(zip(table.ids, table.y))
    rows = []
    for member in sorted(p for p in args.crossfit.iterdir() if p.is_dir()):
        files = sorted(member.glob("fold*/oof.npz"))
        if args.folds is not None:
            files = [member / f"fold{k}" / "oof.npz" for k in args.folds]
            if not all(f.is_file() for f in files):
                continue
        if not files:
            continue
        parts = [read_oof(f) for f in files]
        ids = [i for p in parts for i in p["ids"]]
        logits = np.concatenate([p["logits"] for p in parts])
        y = np.array([labels[i] for i in ids])
        aurocs = [roc_auc(y[:, j], logits[:, j]) for j in range(len(CLASSES))]
        rows.append([member.name, ",".join(f.parent.name for f in files), len(ids), *(f"{a:.4f}" for a in aurocs),
                     f"{np.mean(aurocs):.4f}", f"{np.corrcoef(logits[:, 0], logits[:, 2])[0, 1]:.4f}",
                     ",".join(str(p["best_epoch"]) for p in parts) if any(p["best_epoch"] for p in parts) else "-"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(args.out) as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["member", "folds", "records", *CLASSES, "macro", "corr_nucleus_cytosol_logit", "best_epochs"])
        writer.writerows(rows)
    print(args.out.read_text(), end="")


if __name__ == "__main__":
    main()
