"""Would a TCN (or the comparison's QRNN/LSTM) earn a place in the default ensemble? (issue 20)

The shipped default's member checkpoints are not kept, so a candidate member is judged the
cheap way: its valid logits are blended with the default's, ``logit = logit(default) +
w * (logit(candidate) - mean)`` for a few fixed ``w`` (the blend an extra equal-weight member
would roughly give), and the per-class valid AUROC is compared with the default's alone.
Only a handful of fixed weights are compared, all reported, so valid is barely tuned on.

    python benchmarks/architectures/member_blend.py --runs arch_tcn_s1 arch_tcn_s2 \
        --out benchmarks/results/architectures_member_blend.tsv
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
from rnaloc_infer.fasta import read_fasta

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
WEIGHTS = (0.25, 0.5, 1.0)


def logits(probs: np.ndarray) -> np.ndarray:
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def per_class(scores: np.ndarray, labels: np.ndarray) -> List[float]:
    return [roc_auc(labels[:, c], scores[:, c]) for c in range(labels.shape[1])]


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
    rows = [["default", "-", "0", *per_class(base, labels)]]
    for name, cand in candidates.items():
        rows.append([name, "alone", "-", *per_class(cand, labels)])
        centred = cand - cand.mean(axis=0, keepdims=True)
        for w in WEIGHTS:
            rows.append(["default+" + name, "blend", str(w), *per_class(base + w * centred, labels)])
    header = ["model", "kind", "weight", *[f"auroc_{c}" for c in classes], "macro_auroc", "auroc_without_exosome"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(header)
        for row in rows:
            values = row[3:]
            without = [v for c, v in zip(classes, values) if c != "Exosome"]
            writer.writerow(row[:3] + [f"{v:.4f}" for v in values] + [f"{np.mean(values):.4f}", f"{np.mean(without):.4f}"])
    print(open(args.out).read())


if __name__ == "__main__":
    main()
