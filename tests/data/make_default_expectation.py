"""Record what the default model must predict, computed in eager PyTorch from its checkpoint.

Run once when the bundled model is exported (docs/MODEL_CARD.md, "Release"):

    python tests/data/make_default_expectation.py runs/qrnn_motif/best.pt \
        --onnx rnaloc_infer/models/default.onnx --out tests/data/default_model_expected.json

tests/test_bundled_model.py then checks that the shipped ONNX file, run by the torch-free
runtime, reproduces these eager-PyTorch probabilities for examples/example.fa.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch

from rnaloc_infer.fasta import RecordError, read_file
from rnaloc_infer.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _onnx_metadata(path: Path) -> dict:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--onnx", type=Path, default=ROOT / "rnaloc_infer/models/default.onnx")
    parser.add_argument("--fasta", type=Path, default=ROOT / "examples/example.fa")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/data/default_model_expected.json")
    args = parser.parse_args()

    model, _ = load_checkpoint(args.checkpoint)
    expected = {}
    with torch.no_grad():
        for record in read_file(args.fasta):
            assert not isinstance(record, RecordError), record.message
            tokens = torch.from_numpy(record.codes.copy())[None]
            probs = torch.sigmoid(model.predict_logits(tokens, torch.tensor([record.length])))[0]
            expected[record.id] = [round(float(p), 7) for p in probs]
    result = {
        "onnx_sha256": hashlib.sha256(args.onnx.read_bytes()).hexdigest(),
        "classes": list(model.config.classes),
        # the shipped file's thresholds (refitted into its metadata by `rnaloc-train refit-metadata`)
        "thresholds": json.loads(_onnx_metadata(args.onnx)["rnaloc.thresholds"]),
        "fasta": str(args.fasta.resolve().relative_to(ROOT)),
        "probabilities": expected,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({len(expected)} records)")


if __name__ == "__main__":
    main()
