"""Gradient-boosted trees on the default's inputs and features: is the linear regression
member leaving accuracy on the table? (issue 20: "a better default")

Why: the default blends two QRNNs with a *linear* regression on k-mer frequencies and the
91 protein features (docs/RESULTS.md, "The encoded protein"). Trees can use interactions a
linear model cannot (a signal peptide *and* no transmembrane segment, GC3 only in long
ORFs). This fits one ``HistGradientBoostingClassifier`` per class on **train** for each
feature set of ``experiments/profile_heads.py`` (its cache: run that script's extraction
first), with settings fixed in advance (learning rate 0.05, 15 leaves, at least 40 records
per leaf, L2 1.0, early stopping on a 15 % split of train; nothing chosen on valid), and
scores valid:

* each forest alone, beside the default;
* the default blended with a forest: equal-weight or quarter-weight sum of the two
  standardised logits (mean and SD from **train**), as ``rnaloc-train ensemble`` blends
  members;
* a paired bootstrap (records resampled) of the blend's gain over the default in macro AUROC
  and in the mean over the five classes other than Exosome (23 valid negatives);
* with ``--members``: the default's own recipe rebuilt from its members' logits (the two
  networks' heads from the cache, the k-mer/coding regression ``--regression`` on the cached
  features): equal-weight mean of train-standardised logits, Platt-scaled per class on valid
  as ``rnaloc-train ensemble`` does (the rebuild of the shipped three members reproduces its
  valid figures), then with the k-mer/coding forest as a fourth member or in the
  regression's place; pair figures on probabilities and on log-odds.

Needs scikit-learn (the [train] extra). The k-mer/coding forest as a fourth member is the
shipped default since 2026-11-29 (``rnaloc-train forest``, ``rnaloc-train ensemble --forest``,
with exactly these settings: ``training.forest.SETTINGS``; docs/RESULTS.md).

    python experiments/profile_heads.py --data ../shared/data --cache cache --model default.unfused.onnx --extract-only
    python experiments/tree_heads.py --cache cache --out experiments/results/tree_heads.tsv \\
        --members --regression artifacts/kmer_coding_logreg.npz --members-out experiments/results/tree_members.tsv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from profile_heads import FEATURE_SETS, load_features, standardise as standardise_all
from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.evaluation.specificity import specificity_report
from rnaloc_infer.training.forest import SETTINGS

CLASSES = ["Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER"]
NOT_EXOSOME = [0, 2, 3, 4, 5]
BLEND_WEIGHTS = (0.25, 0.5)  # the forest's share; fixed in advance
FOREST = SETTINGS  # the shipped forest member's settings, fixed in advance


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def fit_forests(x_train: np.ndarray, y_train: np.ndarray, x_valid: np.ndarray,
                **changes) -> tuple[np.ndarray, np.ndarray, List[int]]:
    """Train and valid logits of one forest per class, and each forest's number of trees;
    ``changes`` override :data:`FOREST` (experiments/forest_variants.py)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    train, valid, trees = np.zeros((len(x_train), 6)), np.zeros((len(x_valid), 6)), []
    for k in range(y_train.shape[1]):
        forest = HistGradientBoostingClassifier(**{**FOREST, **changes}).fit(x_train, y_train[:, k])
        train[:, k] = forest.decision_function(x_train)
        valid[:, k] = forest.decision_function(x_valid)
        trees.append(int(forest.n_iter_))
    return train, valid, trees


def standardise(train: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``valid`` in units of ``train``'s per-column mean and SD (profile_heads.standardise)."""
    return standardise_all(train, valid)[1]


def figures(y: np.ndarray, scores: np.ndarray) -> Dict[str, float]:
    auroc = [roc_auc(y[:, k], scores[:, k]) for k in range(6)]
    pairs = specificity_report(y, scores, CLASSES).pairs
    out = {c: a for c, a in zip(CLASSES, auroc)}
    out["macro"] = float(np.mean(auroc))
    out["without_exosome"] = float(np.mean([auroc[k] for k in NOT_EXOSOME]))
    out.update({f"{p.first}_vs_{p.second}": p.auroc for p in pairs})  # on log-odds-like scores
    return out


def bootstrap_gain(y: np.ndarray, blend: np.ndarray, base: np.ndarray, resamples: int = 1000, seed: int = 0) -> Dict[str, tuple]:
    """95 % interval of blend minus base, macro and without Exosome, records resampled together."""
    rng = np.random.default_rng(seed)
    gains: Dict[str, List[float]] = {"macro": [], "without_exosome": []}
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        a = [roc_auc(y[idx, k], blend[idx, k]) - roc_auc(y[idx, k], base[idx, k]) for k in range(6)]
        gains["macro"].append(float(np.mean(a)))
        gains["without_exosome"].append(float(np.mean([a[k] for k in NOT_EXOSOME])))
    return {name: tuple(np.percentile(v, [2.5, 97.5])) for name, v in gains.items()}


def platt(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-class Platt scaling fitted on these labels (the release fits it on valid too)."""
    from sklearn.linear_model import LogisticRegression

    out = np.zeros_like(scores)
    for k in range(scores.shape[1]):
        model = LogisticRegression(C=1e6).fit(scores[:, [k]], y[:, k])
        out[:, k] = model.decision_function(scores[:, [k]])
    return out


def default_members(cache: Path, regression: Path) -> Dict[str, tuple]:
    """(train, valid) logits of the three-member default's members: its two networks' heads
    from the cache and the k-mer/coding regression ``regression`` on the cached features."""
    from rnaloc_infer.training.regression import load_logreg

    linear = load_logreg(regression)
    return {
        "qrnn": (np.load(cache / "train_net_logits.npy"), np.load(cache / "valid_net_logits.npy")),
        "qrnn_coding": (np.load(cache / "train_coding_logits.npy"), np.load(cache / "valid_coding_logits.npy")),
        "regression": tuple(linear.scores(load_features(cache, split, FEATURE_SETS["kmer_coding"])) for split in ("train", "valid")),
    }


def member_rows(cache: Path, regression: Path, forest: tuple) -> List[dict]:
    """The default's recipe rebuilt from member logits, then with the forest as a member."""
    from rnaloc_infer.evaluation.specificity import specificity_report

    y_valid = np.load(cache / "valid_labels.npy")
    members = {**default_members(cache, regression), "forest": forest}
    rows = []
    for combo in (("qrnn", "qrnn_coding", "regression"), ("qrnn", "qrnn_coding", "regression", "forest"),
                  ("qrnn", "qrnn_coding", "forest")):
        blended = sum(standardise(*members[name]) for name in combo) / len(combo)
        calibrated = platt(blended, y_valid)
        row = {"variant": "+".join(combo), **figures(y_valid, calibrated)}
        pairs = specificity_report(y_valid, 1 / (1 + np.exp(-calibrated)), CLASSES).pairs
        row.update({f"{p.first}_vs_{p.second}_probabilities": p.auroc for p in pairs})
        rows.append(row)
    return rows


def write_tsv(path: Path, columns: List[str], rows: List[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([f"{row[c]:.4f}" if isinstance(row.get(c), float) else row.get(c, "") for c in columns])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("cache"))
    ap.add_argument("--feature-sets", nargs="+", default=list(FEATURE_SETS), choices=list(FEATURE_SETS))
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--members", action="store_true", help="also rebuild the default from member logits (needs --regression)")
    ap.add_argument("--regression", type=Path, default=Path("artifacts/kmer_coding_logreg.npz"))
    ap.add_argument("--members-out", type=Path, default=None)
    args = ap.parse_args()
    y_train, y_valid = np.load(args.cache / "train_labels.npy"), np.load(args.cache / "valid_labels.npy")
    default_train = logit(np.load(args.cache / "train_probs.npy"))
    default_valid = logit(np.load(args.cache / "valid_probs.npy"))
    rows = [{"variant": "default", **figures(y_valid, default_valid)}]
    base = standardise(default_train, default_valid)
    kmer_forest = None
    for name in args.feature_sets:
        start = time.perf_counter()
        x_train, x_valid = load_features(args.cache, "train", FEATURE_SETS[name]), load_features(args.cache, "valid", FEATURE_SETS[name])
        forest_train, forest_valid, trees = fit_forests(x_train, y_train, x_valid)
        if name == "kmer_coding":
            kmer_forest = (forest_train, forest_valid)
        rows.append({"variant": f"{name}/forest", "trees": "/".join(map(str, trees)), **figures(y_valid, forest_valid)})
        forest = standardise(forest_train, forest_valid)
        for weight in BLEND_WEIGHTS:
            blend = (1 - weight) * base + weight * forest
            interval = bootstrap_gain(y_valid, blend, base, args.resamples)
            rows.append({"variant": f"default+{name}/forest@{weight}", **figures(y_valid, blend),
                         "gain_macro_ci95": "{:+.4f} to {:+.4f}".format(*interval["macro"]),
                         "gain_without_exosome_ci95": "{:+.4f} to {:+.4f}".format(*interval["without_exosome"])})
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
    columns = ["variant", *CLASSES, "macro", "without_exosome", "Nucleus_vs_Cytosol", "Membrane_vs_ER", "trees",
               "gain_macro_ci95", "gain_without_exosome_ci95"]
    for row in rows:
        print("  ".join(f"{row.get(c, ''):.4f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns))
    if args.out:
        write_tsv(args.out, columns, rows)
    if args.members:
        if kmer_forest is None:
            ap.error("--members needs the kmer_coding feature set")
        member_columns = ["variant", *CLASSES, "macro", "without_exosome", "Nucleus_vs_Cytosol_probabilities",
                          "Nucleus_vs_Cytosol", "Membrane_vs_ER_probabilities", "Membrane_vs_ER"]
        members = member_rows(args.cache, args.regression, kmer_forest)
        for row in members:
            print("  ".join(f"{row[c]:.4f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in member_columns))
        if args.members_out:
            write_tsv(args.members_out, member_columns, members)


if __name__ == "__main__":
    main()
