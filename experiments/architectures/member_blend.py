"""Would a TCN (or the comparison's QRNN/LSTM) earn a place in the default ensemble? (issue 20)

The shipped default's member checkpoints are not kept, so a candidate member is judged the
cheap way: its valid logits are blended with the default's, ``logit = logit(default) +
w * (logit(candidate) - mean)`` for a few fixed ``w`` (the blend an extra equal-weight member
would roughly give), and the per-class valid AUROC and the specificity pairs (Nucleus-only vs
Cytosol-only, Membrane-only vs ER-only, also within equal label counts) are compared with the
default's alone.
Only a handful of fixed weights are compared, all reported, so valid is barely tuned on.

    python experiments/architectures/member_blend.py --runs arch_tcn_s1 arch_tcn_s2 \
        --out experiments/results/architectures_member_blend.tsv
    python experiments/architectures/member_blend.py --runs arch_qrnn_s1 arch_qrnn_s2 \
        --out experiments/results/architectures_member_blend_qrnn.tsv
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path
from typing import Dict, List

import numpy as np

from rnaloc_infer import Predictor
from rnaloc_infer.evaluation.labels import read_labels
from rnaloc_infer.evaluation.metrics import roc_auc
from rnaloc_infer.evaluation.specificity import pair_auroc
from rnaloc_infer.fasta import read_fasta

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
WEIGHTS = (0.25, 0.5, 1.0)


def logits(probs: np.ndarray) -> np.ndarray:
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


PAIRS = (("Nucleus", "Cytosol"), ("Membrane", "ER"))


def per_class(scores: np.ndarray, labels: np.ndarray) -> List[float]:
    return [roc_auc(labels[:, c], scores[:, c]) for c in range(labels.shape[1])]


def pairs(logit: np.ndarray, labels: np.ndarray, classes: List[str]) -> List[float]:
    """Pair AUROCs on probabilities (as rnaloc-train evaluate scores them): all, same label count."""
    probs = 1.0 / (1.0 + np.exp(-logit))
    out: List[float] = []
    for first, second in PAIRS:
        result = pair_auroc(labels, probs, classes, first, second)
        out += [result.auroc, result.auroc_same_count]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="+", required=True, help="run folders under runs/ (best.pt is exported)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from rnaloc_infer.export.onnx_export import export_onnx_from_checkpoint

    records = list(read_fasta(DATA / "dm3loc_valid.fa.gz"))
    default = Predictor("default")
    classes = list(default.classes)
    table = read_labels(DATA / "dm3loc_valid_labels.tsv", classes)
    row_of = {rid: i for i, rid in enumerate(table.ids)}
    labels = table.y[[row_of[r.id] for r in records]]
    base = logits(default.predict_records(records))
    candidates: Dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs:
            path = Path(tmp) / f"{run}.onnx"
            export_onnx_from_checkpoint(Path("runs") / run / "best.pt", path)
            candidates[run] = logits(Predictor(str(path)).predict_records(records))
    if len(candidates) > 1:
        candidates["+".join(args.runs)] = np.mean(list(candidates.values()), axis=0)
    def scored(logit: np.ndarray) -> List[float]:
        return per_class(logit, labels) + pairs(logit, labels, classes)

    rows = [["default", "-", "0", *scored(base)]]
    for name, cand in candidates.items():
        rows.append([name, "alone", "-", *scored(cand)])
        centred = cand - cand.mean(axis=0, keepdims=True)
        for w in WEIGHTS:
            rows.append(["default+" + name, "blend", str(w), *scored(base + w * centred)])
    n = len(classes)
    pair_names = [f"{a}-only_vs_{b}-only{tail}" for a, b in PAIRS for tail in ("", "_same_count")]
    header = ["model", "kind", "weight", *[f"auroc_{c}" for c in classes], "macro_auroc", "auroc_without_exosome", *pair_names]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(header)
        for row in rows:
            values, pair_values = row[3 : 3 + n], row[3 + n :]
            without = [v for c, v in zip(classes, values) if c != "Exosome"]
            writer.writerow(row[:3] + [f"{v:.4f}" for v in values] + [f"{np.mean(values):.4f}", f"{np.mean(without):.4f}"]
                            + [f"{v:.4f}" for v in pair_values])
    print(open(args.out).read())


if __name__ == "__main__":
    main()
