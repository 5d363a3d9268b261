"""Variants of the default's forest member, each as a member of the default's recipe (issue 20).

Why: the shipped forest (``training.forest.SETTINGS``) was the one setting measured before it
shipped. Two cheap variations could add to it: per-class balanced sample weights (the
minority classes, ER 11 % and Exosome's 1 % negatives, weigh more in the trees), and a second
forest that differs only in its early-stopping split (``random_state=1``), i.e. a bag of two.
Each is scored as ``experiments/tree_heads.py --members`` scores the shipped one: equal-weight
mean of train-standardised member logits, Platt-scaled per class on valid (valid figures,
so a choice among these rows is a mild use of valid).

    python experiments/profile_heads.py --data ../shared/data --cache cache --model default.unfused.onnx --extract-only
    python experiments/forest_variants.py --cache cache --out experiments/results/forest_variants.tsv   # ~21 min, 2 cores

Needs scikit-learn (the [train] extra).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from profile_heads import FEATURE_SETS, load_features
from tree_heads import default_members, figures, fit_forests, platt, standardise, write_tsv

VARIANTS = {"forest": {}, "forest_balanced": {"class_weight": "balanced"}, "forest_seed1": {"random_state": 1}}
COMBOS = [("qrnn", "qrnn_coding", "regression"),
          ("qrnn", "qrnn_coding", "regression", "forest"),  # the shipped default
          ("qrnn", "qrnn_coding", "regression", "forest_balanced"),
          ("qrnn", "qrnn_coding", "regression", "forest", "forest_seed1"),
          ("qrnn", "qrnn_coding", "regression", "forest", "forest_balanced")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("cache"))
    ap.add_argument("--regression", type=Path, default=Path("artifacts/kmer_coding_logreg.npz"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    y_train, y_valid = np.load(args.cache / "train_labels.npy"), np.load(args.cache / "valid_labels.npy")
    x_train = load_features(args.cache, "train", FEATURE_SETS["kmer_coding"]).astype(np.float32)
    x_valid = load_features(args.cache, "valid", FEATURE_SETS["kmer_coding"]).astype(np.float32)
    members: Dict[str, Tuple[np.ndarray, np.ndarray]] = default_members(args.cache, args.regression)
    seconds = {}
    for name, changes in VARIANTS.items():
        started = time.perf_counter()
        members[name] = fit_forests(x_train, y_train, x_valid, **changes)[:2]
        seconds[name] = time.perf_counter() - started
        print(f"{name}: {seconds[name]:.0f} s", flush=True)
    rows = []
    for combo in COMBOS:
        blended = sum(standardise(*members[name]) for name in combo) / len(combo)
        row = {"members": "+".join(combo), **figures(y_valid, platt(blended, y_valid)),
               "fit_s": round(sum(seconds.get(name, 0.0) for name in combo))}
        rows.append(row)
        print("  ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()), flush=True)
    if args.out:
        write_tsv(args.out, list(rows[0]), rows)


if __name__ == "__main__":
    main()
