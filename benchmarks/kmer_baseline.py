"""k-mer logistic-regression and length-only baselines for the DM3Loc split.

Why: any neural model in this project has to beat what plain composition statistics
and sequence length already give; these figures are the floor in docs/BASELINE.md and
docs/MODEL_CARD.md.

Features: for k = 1..5, counts of every k-mer over A/C/G/T (4 + 16 + 64 + 256 + 1024 =
1364 columns), each k block normalised to sum 1 (frequencies); windows containing N (or
any non-ACGT code) are skipped. Counting is vectorised: a base-4 rolling index per k and
one ``np.bincount`` per sequence.

Classifier: one-vs-rest ``LogisticRegression`` per class (lbfgs, ``class_weight="balanced"``)
on standardised features. C is chosen from a small grid by macro AUROC on an internal
80/20 split *of train* (seed 0), then refit on all of train; the validation set is used
only for the final scores.

Length-only score: log10(length) per class, with the sign chosen per class on train
(the sign with train AUROC >= 0.5), scored on valid.

Run from the repository root::

    /work/venv/bin/python benchmarks/kmer_baseline.py \
        --data-dir ../shared/data --out benchmarks/results/kmer_baseline.tsv
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.preprocessing import StandardScaler

from rnaloc_infer.coding import FEATURE_SET, coding_features
from rnaloc_infer.fasta import RecordError, read_file

logger = logging.getLogger("kmer_baseline")

CLASSES = ("Nucleus", "Exosome", "Cytosol", "Ribosome", "Membrane", "ER")
KS = (1, 2, 3, 4, 5)
C_GRID = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 1e-2)


def kmer_features(codes: np.ndarray, ks: Sequence[int] = KS) -> np.ndarray:
    """Concatenated per-k k-mer frequencies of one encoded sequence (A=0 C=1 G=2 T=3).

    A window is counted only if all its codes are < 4, so N never leaks into a k-mer.
    A k block whose sequence has no valid window stays all zeros.
    """
    codes = codes.astype(np.int64)
    valid = codes < 4
    # bad_cum[i] = number of invalid codes in codes[:i]
    bad_cum = np.concatenate(([0], np.cumsum(~valid)))
    clean = np.where(valid, codes, 0)
    blocks: List[np.ndarray] = []
    for k in ks:
        n_win = codes.size - k + 1
        if n_win <= 0:
            blocks.append(np.zeros(4**k))
            continue
        idx = np.zeros(n_win, dtype=np.int64)
        for j in range(k):
            idx = idx * 4 + clean[j : j + n_win]
        ok = (bad_cum[k : k + n_win] - bad_cum[:n_win]) == 0
        counts = np.bincount(idx[ok], minlength=4**k).astype(np.float64)
        total = counts.sum()
        blocks.append(counts / total if total else counts)
    return np.concatenate(blocks)


def read_fasta_features(path: Path, coding: bool = False) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Return (ids, feature matrix, lengths) for every record of a FASTA file: k-mer
    frequencies, then (``coding``) the encoded protein's features (:mod:`rnaloc_infer.coding`)."""
    ids: List[str] = []
    feats: List[np.ndarray] = []
    lengths: List[int] = []
    for rec in read_file(path):
        if isinstance(rec, RecordError):
            raise ValueError(rec.message)
        ids.append(rec.id)
        row = kmer_features(rec.codes)
        feats.append(np.concatenate([row, coding_features(rec.codes)]) if coding else row)
        lengths.append(rec.codes.size)
    return ids, np.vstack(feats), np.asarray(lengths, dtype=np.int64)


def read_labels(path: Path, ids: Sequence[str]) -> np.ndarray:
    """Label matrix [n, classes] in the order of ``ids``; every id must be present."""
    table: Dict[str, List[int]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            table[row["id"]] = [int(row[c]) for c in CLASSES]
    missing = [i for i in ids if i not in table]
    if missing:
        raise SystemExit(f"{len(missing)} FASTA ids missing from {path}: {', '.join(missing[:5])}")
    return np.asarray([table[i] for i in ids], dtype=np.int64)


def fit_ovr(x: np.ndarray, y: np.ndarray, c: float) -> List[LogisticRegression]:
    """One balanced logistic regression per class (x already standardised)."""
    models = []
    for j in range(y.shape[1]):
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        clf.fit(x, y[:, j])
        models.append(clf)
    return models


def score_ovr(models: Sequence[LogisticRegression], x: np.ndarray) -> np.ndarray:
    """Decision scores [n, classes] (monotone in the probability, enough for AUROC/AUPRC)."""
    return np.column_stack([m.decision_function(x) for m in models])


def per_class(y: np.ndarray, s: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per-class AUROC and AUPRC (scikit-learn, the reference implementation)."""
    auroc = np.array([roc_auc_score(y[:, j], s[:, j]) for j in range(y.shape[1])])
    auprc = np.array([average_precision_score(y[:, j], s[:, j]) for j in range(y.shape[1])])
    return auroc, auprc


def tune_c(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Tuple[float, Dict[float, float]]:
    """Pick C by macro AUROC on an 80/20 split of the training set only."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x))
    cut = int(0.8 * len(x))
    fit_i, hold_i = perm[:cut], perm[cut:]
    scaler = StandardScaler().fit(x[fit_i])
    xf, xh = scaler.transform(x[fit_i]), scaler.transform(x[hold_i])
    results: Dict[float, float] = {}
    for c in C_GRID:
        auroc, _ = per_class(y[hold_i], score_ovr(fit_ovr(xf, y[fit_i], c), xh))
        results[c] = float(auroc.mean())
        logger.info("C=%g inner-holdout macro AUROC %.4f", c, results[c])
    best = max(results, key=results.get)
    return best, results


def write_tsv(path: Path, rows: List[Tuple[str, str, float, float]]) -> None:
    """Machine-readable results: method, class, auroc, auprc (class 'macro' = mean)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["method", "class", "auroc", "auprc", "n_valid", "n_valid_pos"])
        for row in rows:
            w.writerow(row)


def save_model(path: Path, scaler: StandardScaler, models: Sequence[LogisticRegression], c: float,
               coding: bool = False) -> None:
    """Plain arrays only (loadable with allow_pickle=False): features are k = KS frequency blocks
    in base-4 order (A C G T, first letter most significant), then the coding features if the
    header names them; scores = coef . (x - mean) / scale + intercept."""
    header = {"format": "rnaloc-kmer-logreg", "format_version": 1, "ks": list(KS), "classes": list(CLASSES), "C": c,
              "features": FEATURE_SET if coding else ""}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, coef=np.vstack([m.coef_[0] for m in models]),
                        intercept=np.array([m.intercept_[0] for m in models]),
                        mean=scaler.mean_, scale=scaler.scale_, header=np.array(json.dumps(header)))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/kmer_baseline.tsv"))
    ap.add_argument("--c", type=float, default=None, help="fix C instead of tuning it on train")
    ap.add_argument("--coding", action="store_true",
                    help="add the encoded protein's features (longest ORF: hydropathy, amino acid and codon "
                         "usage; rnaloc_infer.coding) to the k-mer frequencies")
    ap.add_argument("--save-model", type=Path, default=None,
                    help="also write the fitted scaler + classifiers as .npz (the in-graph k-mer "
                         "linear part of an ensemble reads it: rnaloc-train ensemble)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    t0 = time.time()
    tr_ids, x_tr, len_tr = read_fasta_features(args.data_dir / "dm3loc_train.fa.gz", args.coding)
    va_ids, x_va, len_va = read_fasta_features(args.data_dir / "dm3loc_valid.fa.gz", args.coding)
    y_tr = read_labels(args.data_dir / "dm3loc_train_labels.tsv", tr_ids)
    y_va = read_labels(args.data_dir / "dm3loc_valid_labels.tsv", va_ids)
    logger.info("features %s / %s in %.1fs", x_tr.shape, x_va.shape, time.time() - t0)

    if args.c is None:
        c, grid = tune_c(x_tr, y_tr)
        logger.info("chosen C=%g (grid %s)", c, grid)
    else:
        c = args.c
    scaler = StandardScaler().fit(x_tr)
    models = fit_ovr(scaler.transform(x_tr), y_tr, c)
    auroc_k, auprc_k = per_class(y_va, score_ovr(models, scaler.transform(x_va)))
    if args.save_model is not None:
        save_model(args.save_model, scaler, models, c, args.coding)

    # Length-only: sign per class from train AUROC.
    logl_tr, logl_va = np.log10(len_tr), np.log10(len_va)
    signs = np.array(
        [1.0 if roc_auc_score(y_tr[:, j], logl_tr) >= 0.5 else -1.0 for j in range(len(CLASSES))]
    )
    auroc_l, auprc_l = per_class(y_va, logl_va[:, None] * signs[None, :])

    n_va, pos = len(y_va), y_va.sum(axis=0)
    rows: List[Tuple] = []
    for name, auroc, auprc in (
        (f"kmer1-5{'+coding' if args.coding else ''}_logreg_C{c:g}", auroc_k, auprc_k),
        ("log_length", auroc_l, auprc_l),
    ):
        for j, cls in enumerate(CLASSES):
            rows.append((name, cls, f"{auroc[j]:.4f}", f"{auprc[j]:.4f}", n_va, int(pos[j])))
        rows.append((name, "macro", f"{auroc.mean():.4f}", f"{auprc.mean():.4f}", n_va, ""))
    write_tsv(args.out, rows)
    logger.info("length-only signs (train): %s", dict(zip(CLASSES, signs.astype(int).tolist())))
    for row in rows:
        logger.info("%s", "\t".join(str(v) for v in row))
    logger.info("wrote %s in %.1fs total", args.out, time.time() - t0)


if __name__ == "__main__":
    main()
