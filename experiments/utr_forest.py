"""The forest member with the UTRs' k-mer frequencies among its inputs (issue 20).

Why: the default's forest read the whole record's k-mer frequencies and the protein's
features; most localisation elements are in 3' UTRs, where whole-record counts dilute them
with the coding sequence. Each forest below is fitted on train with the shipped settings
(``training.forest.SETTINGS``), scored alone, and as a member of the default's recipe
(equal-weight mean of train-standardised member logits, Platt-scaled per class on valid, as
``rnaloc-train ensemble`` does; valid figures), with a paired bootstrap of each row against
the shipped four-member recipe. Inputs:

* ``kmer_coding``: the shipped forest's (k = 1..5 frequencies, 91 protein features).
* ``utr``: the 1,704 UTR k-mer frequencies alone (rnaloc_infer/features/utr_kmers.py).
* ``kmer_coding_utr``: both, the ``coding-utr-v1`` forest.
* ``networks``: the two networks' pooled features and head layers (in-sample on train).
* ``kmer_coding_utr_logits``: ``kmer_coding_utr`` plus the two networks' logits.

    python experiments/profile_heads.py --data ../shared/data --cache cache --model default.unfused.onnx --extract-only
    python experiments/utr_forest.py --data ../shared/data --cache cache --out experiments/results/utr_forest.tsv   # ~25 min, 2 cores

Needs scikit-learn (the [train] extra).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from profile_heads import FEATURE_SETS, load_features
from tree_heads import bootstrap_gain, default_members, figures, fit_forests, platt, standardise, write_tsv

MEMBERS = ("qrnn", "qrnn_coding", "regression")
COMBOS = [MEMBERS + ("kmer_coding",),  # the shipped default before this change
          MEMBERS + ("utr",),
          MEMBERS + ("kmer_coding_utr",),
          MEMBERS + ("kmer_coding_utr_logits",),
          MEMBERS + ("kmer_coding", "utr"),
          MEMBERS + ("kmer_coding", "networks"),
          MEMBERS + ("kmer_coding_utr", "networks")]


def utr_features(data_dir: Path, cache: Path, split: str) -> np.ndarray:
    """The split's ``coding-utr-v1`` UTR columns (cached as ``<split>_utr.npy``)."""
    from rnaloc_infer.features.coding import N_FEATURES
    from rnaloc_infer.features.registry import CODING_UTR, record_feature_matrix
    from rnaloc_infer.training.data import read_split, split_paths
    from rnaloc_infer.training.models import CLASSES

    path = cache / f"{split}_utr.npy"
    if not path.exists():
        data = read_split(*split_paths(data_dir, split, "dm3loc"), list(CLASSES))
        np.save(path, record_feature_matrix(data.codes, CODING_UTR)[:, N_FEATURES:])
    return np.load(path)


def inputs(cache: Path, data_dir: Path, split: str) -> Dict[str, np.ndarray]:
    kmer_coding = load_features(cache, split, FEATURE_SETS["kmer_coding"]).astype(np.float32)
    utr = utr_features(data_dir, cache, split)
    logits = np.hstack([np.load(cache / f"{split}_net_logits.npy"), np.load(cache / f"{split}_coding_logits.npy")])
    return {"kmer_coding": kmer_coding, "utr": utr, "kmer_coding_utr": np.hstack([kmer_coding, utr]),
            "networks": load_features(cache, split, FEATURE_SETS["networks"]).astype(np.float32),
            "kmer_coding_utr_logits": np.hstack([kmer_coding, utr, logits]).astype(np.float32)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--cache", type=Path, default=Path("cache"))
    ap.add_argument("--regression", type=Path, default=Path("artifacts/kmer_coding_logreg.npz"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    y_train, y_valid = np.load(args.cache / "train_labels.npy"), np.load(args.cache / "valid_labels.npy")
    x_train, x_valid = inputs(args.cache, args.data, "train"), inputs(args.cache, args.data, "valid")
    members: Dict[str, Tuple[np.ndarray, np.ndarray]] = default_members(args.cache, args.regression)
    rows, seconds = [], {}
    for name in x_train:
        started = time.perf_counter()
        members[name] = fit_forests(x_train[name], y_train, x_valid[name])[:2]
        seconds[name] = time.perf_counter() - started
        rows.append({"members": f"{name} forest alone", **figures(y_valid, members[name][1]),
                     "fit_s": round(seconds[name]), "gain_macro_ci95": "", "gain_without_exosome_ci95": ""})
        print(name, f"{seconds[name]:.0f} s", flush=True)
    blends = {combo: platt(sum(standardise(*members[name]) for name in combo) / len(combo), y_valid) for combo in COMBOS}
    shipped = blends[COMBOS[0]]
    for combo, blended in blends.items():
        gain = bootstrap_gain(y_valid, blended, shipped) if combo != COMBOS[0] else None
        rows.append({"members": "+".join(combo), **figures(y_valid, blended),
                     "fit_s": round(sum(seconds.get(name, 0.0) for name in combo)),
                     "gain_macro_ci95": "" if gain is None else "{:+.4f} to {:+.4f}".format(*gain["macro"]),
                     "gain_without_exosome_ci95": "" if gain is None else "{:+.4f} to {:+.4f}".format(*gain["without_exosome"])})
        print("  ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in rows[-1].values()), flush=True)
    if args.out:
        write_tsv(args.out, list(rows[0]), rows)


if __name__ == "__main__":
    main()
