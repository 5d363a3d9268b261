"""Which groups of the encoded protein's features help the k-mer regression (docs/RESULTS.md).

Why: the default model's regression member reads k-mer frequencies plus 91 features of the
longest ORF (``rnaloc_infer.features.coding``). This script scores each group added in turn, on the
same train/valid split and with C chosen on an internal split of train exactly as
``kmer_baseline.py`` does, so the choice of groups can be checked.

Groups (column ranges of ``FEATURE_NAMES``): ``orf`` the 10 summary figures (lengths,
hydropathy, GC3), ``aa`` the 20 amino-acid frequencies, ``codon`` the 61 codon frequencies.

    python experiments/coding_ablation.py --data-dir ../shared/data \
        --out experiments/results/coding_ablation.tsv
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # kmer_baseline: the baseline's own measurement
from kmer_baseline import per_class  # noqa: E402
from rnaloc_infer.features.coding import SUMMARY_NAMES
from rnaloc_infer.training.data import read_split, split_paths
from rnaloc_infer.training.models import CLASSES
from rnaloc_infer.training.regression import feature_matrix, fit_ovr, score_ovr, tune_c

log = logging.getLogger("coding_ablation")

N_KMER = 4 + 16 + 64 + 256 + 1024
GROUPS: Dict[str, slice] = {"orf": slice(0, len(SUMMARY_NAMES)), "aa": slice(len(SUMMARY_NAMES), len(SUMMARY_NAMES) + 20),
                            "codon": slice(len(SUMMARY_NAMES) + 20, None)}
VARIANTS: Dict[str, Sequence[str]] = {
    "kmer": ("kmer",),
    "orf": ("orf",),
    "orf+aa+codon": ("orf", "aa", "codon"),
    "kmer+orf": ("kmer", "orf"),
    "kmer+orf+aa": ("kmer", "orf", "aa"),
    "kmer+orf+aa+codon": ("kmer", "orf", "aa", "codon"),
}


def columns(x: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    kmer, coding = x[:, :N_KMER], x[:, N_KMER:]
    parts = [kmer if g == "kmer" else coding[:, GROUPS[g]] for g in groups]
    return np.hstack(parts)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("experiments/results/coding_ablation.tsv"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start = time.time()
    train = read_split(*split_paths(args.data_dir, "train"), CLASSES)
    valid = read_split(*split_paths(args.data_dir, "valid"), CLASSES)
    x_train, x_valid = feature_matrix(train.codes, coding=True), feature_matrix(valid.codes, coding=True)
    y_train, y_valid = train.labels.astype(np.int64), valid.labels.astype(np.int64)
    rows: List[List] = []
    for name, groups in VARIANTS.items():
        a, b = columns(x_train, groups), columns(x_valid, groups)
        c, _ = tune_c(a, y_train)
        scaler = StandardScaler().fit(a)
        auroc, _ = per_class(y_valid, score_ovr(fit_ovr(scaler.transform(a), y_train, c), scaler.transform(b)))
        without = float(np.delete(auroc, CLASSES.index("Exosome")).mean())
        rows.append([name, a.shape[1], f"{c:g}", *(f"{v:.4f}" for v in auroc), f"{auroc.mean():.4f}", f"{without:.4f}"])
        log.info("%s", "\t".join(map(str, rows[-1])))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["features", "columns", "C", *CLASSES, "macro", "without_exosome"])
        writer.writerows(rows)
    log.info("wrote %s in %.0f s", args.out, time.time() - start)


if __name__ == "__main__":
    main()
