"""Bootstrap confidence intervals for a model's valid AUROC and its gain over a reference.

Why: the default's macro AUROC (0.752) sits close to the 0.75 target and its per-class
margins over the k-mer baseline differ a lot in size; 2,776 valid records (23 Exosome
negatives) make every AUROC uncertain. A paired bootstrap (both scores resampled with the
same records) says which figures and which differences survive resampling.

Scores: the ONNX model through the runtime (``rnaloc_infer.api.Predictor``) and, on the
same records, the reference: the k-mer baseline's saved regression (``rnaloc-train
regression --out artifacts/kmer_logreg.npz``) by default, or another ONNX model (``--reference other.onnx``: is a
candidate better than the shipped default?).

    python benchmarks/bootstrap_auroc.py --data-dir ../shared/data \
        --out benchmarks/results/bootstrap_default.tsv
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from rnaloc_infer.evaluation import metrics
from rnaloc_infer.api import Predictor
from rnaloc_infer.training.data import read_split, split_paths
from rnaloc_infer.training.models import CLASSES
from rnaloc_infer.training.regression import KS, feature_matrix, load_logreg

log = logging.getLogger("bootstrap_auroc")


def baseline_scores(logreg: Path, codes: Sequence[np.ndarray]) -> np.ndarray:
    """Decision scores of the saved k-mer regression (no coding features)."""
    fitted = load_logreg(logreg)
    if fitted.features or tuple(fitted.ks) != KS:
        raise ValueError(f"{logreg}: expected the plain k-mer baseline (ks {KS}, no features)")
    return fitted.scores(feature_matrix(codes))


def onnx_scores(model: str, fasta: Path) -> np.ndarray:
    """Probabilities of every record (class order of :data:`CLASSES`) from an ONNX model."""
    predictor = Predictor(model, device="cpu")
    if tuple(predictor.classes) != CLASSES:
        raise SystemExit(f"model classes {predictor.classes} differ from {CLASSES}")
    return np.array([[p.probabilities[c] for c in CLASSES] for p in predictor.predict_fasta(fasta)])


def auroc_table(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class AUROC, then macro, then macro without Exosome."""
    per = np.array([metrics.roc_auc(labels[:, c], scores[:, c]) for c in range(labels.shape[1])])
    return np.concatenate([per, [per.mean(), np.delete(per, CLASSES.index("Exosome")).mean()]])


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    ap.add_argument("--model", default="default", help="ONNX model (default: the bundled one)")
    ap.add_argument("--baseline", type=Path, default=Path("artifacts/kmer_logreg.npz"),
                    help="the k-mer regression used as reference when --reference is not given")
    ap.add_argument("--reference", default=None, help="an ONNX model to compare with instead of the k-mer baseline")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/bootstrap_default.tsv"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start = time.time()

    fasta, labels_tsv = split_paths(args.data_dir, "valid")
    valid = read_split(fasta, labels_tsv, CLASSES)
    ids, labels = valid.ids, valid.labels.astype(np.float64)
    model_scores = onnx_scores(args.model, fasta)
    if args.reference is None:
        base_scores = baseline_scores(args.baseline, valid.codes)
    else:
        base_scores = onnx_scores(args.reference, fasta)
    log.info("scored %d records in %.0f s", len(ids), time.time() - start)

    model_point, base_point = auroc_table(labels, model_scores), auroc_table(labels, base_scores)
    rng = np.random.default_rng(args.seed)
    draws_model, draws_gain = [], []
    for _ in range(args.resamples):
        rows = rng.integers(0, len(ids), len(ids))
        m, b = auroc_table(labels[rows], model_scores[rows]), auroc_table(labels[rows], base_scores[rows])
        draws_model.append(m)
        draws_gain.append(m - b)
    low_m, high_m = np.nanpercentile(draws_model, [2.5, 97.5], axis=0)
    low_g, high_g = np.nanpercentile(draws_gain, [2.5, 97.5], axis=0)
    share_above = np.nanmean(np.array(draws_model) >= 0.75, axis=0)
    names: List[str] = list(CLASSES) + ["macro", "macro_without_exosome"]
    rows_out: List[Dict[str, str]] = []
    for i, name in enumerate(names):
        rows_out.append({"class": name, "model_auroc": f"{model_point[i]:.4f}",
                         "model_ci95": f"{low_m[i]:.4f}-{high_m[i]:.4f}", "reference_auroc": f"{base_point[i]:.4f}",
                         "gain": f"{model_point[i] - base_point[i]:+.4f}", "gain_ci95": f"{low_g[i]:+.4f}-{high_g[i]:+.4f}",
                         "resamples_model_ge_0.75": f"{share_above[i]:.3f}"})
        log.info("%s", "\t".join(rows_out[-1].values()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows_out[0]), delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows_out)
    log.info("wrote %s (%d paired resamples, seed %d) in %.0f s", args.out, args.resamples, args.seed, time.time() - start)


if __name__ == "__main__":
    main()
