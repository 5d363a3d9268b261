"""Inference speed of one-hot vs k-mer-embedding encoders, side by side in one run (issue 12).

    python benchmarks/encoder_speed.py                      # all 2,776 validation records, ~2 min
    python benchmarks/encoder_speed.py --records 100        # smoke run

For each pair of training configs (``configs/<kind>.toml`` vs ``configs/<kind>_kmer.toml``,
and the default model's config vs its k-mer-bag variant) the model is built with random
weights (speed does not depend on them), exported to ONNX with the project's exporter, and
run through a bare single-threaded ONNX Runtime session on exactly the calls the runtime
makes for the first ``--records`` validation records (length-sorted token-budget batches).
All sessions are interleaved slice by slice (benchmarks/throughput.py explains why: the box
is shared and drifts), and each k-mer variant is reported as a ratio to its one-hot partner
over the same slices.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import OrtRunner, interleaved, read_codes, runtime_calls, slices  # noqa: E402

from rnaloc_infer.batching import BatchConfig  # noqa: E402
from rnaloc_infer.session import ModelSession  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PAIRS: Tuple[Tuple[str, str], ...] = (
    ("lstm", "lstm_kmer"),
    ("qrnn_small_batch", "qrnn_kmer"),
    ("tcn", "tcn_kmer"),
    ("qrnn_motif", "qrnn_motif_bag"),
    ("qrnn_motif", "qrnn_motif+kmer_logreg"),
)
# "<config>+kmer_logreg": the config's network plus the in-graph k-mer regression (k = 1..5) of
# `rnaloc-train ensemble`; its buffers stay zero here, which costs the same as fitted ones.
ENSEMBLE_SUFFIX = "+kmer_logreg"


def export_config(name: str, folder: Path) -> Tuple[Path, int]:
    """Random-weight ONNX export of configs/<name>.toml; returns (path, parameter count)."""
    import torch

    from rnaloc_infer.export.onnx_export import export_onnx
    from rnaloc_infer.training.config import load_config
    from rnaloc_infer.training.ensemble_model import EnsembleConfig, EnsembleModel
    from rnaloc_infer.training.models import LocalizationModel, count_parameters

    torch.manual_seed(0)
    config = load_config(REPO / "configs" / f"{name.removesuffix(ENSEMBLE_SUFFIX)}.toml").model
    if name.endswith(ENSEMBLE_SUFFIX):
        model = EnsembleModel(EnsembleConfig(config, linear_ks=[1, 2, 3, 4, 5])).eval()
    else:
        model = LocalizationModel(config).eval()
    path = export_onnx(model, folder / f"{name}.onnx", thresholds=[0.5] * len(model.config.classes),
                       train_data_sha256="benchmark")
    return path, count_parameters(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--valid", type=Path, default=REPO.parent / "shared/data/dm3loc_valid.fa.gz")
    parser.add_argument("--records", type=int, default=None, help="first N validation records (default: all)")
    parser.add_argument("--slices", type=int, default=12)
    args = parser.parse_args()

    codes = read_codes(args.valid, limit=args.records)
    total_nt = sum(len(c) for c in codes)
    print(f"input: {len(codes)} validation records, {total_nt:,} nt")
    names = list(dict.fromkeys(name for pair in PAIRS for name in pair))
    with tempfile.TemporaryDirectory() as tmp:
        runners: Dict[str, OrtRunner] = {}
        params: Dict[str, int] = {}
        stride = None
        for name in names:
            path, params[name] = export_config(name, Path(tmp))
            session = ModelSession(path, device="cpu", intra_op_threads=1)
            stride = session.info.stride if stride is None else stride
            assert session.info.stride == stride, "all configs must share the stride for one call plan"
            runners[name] = OrtRunner(session)
            runners[name].name = name
        calls = runtime_calls(codes, BatchConfig(), stride)
        timings = interleaved(runners, slices(calls, args.slices))
    print(f"\n| config | params | ORT nt/s (1 thread) | time vs one-hot partner (median over {args.slices} slices) |")
    print("|---|---:|---:|---:|")
    printed = set()
    for base, variant in PAIRS:
        for name in (n for n in (base, variant) if n not in printed):
            printed.add(name)
            t = timings[name]
            nts = sum(t.nt) / sum(t.wall)
            ratio = "1.00 (reference)" if name == base else (
                f"{statistics.median(np.array(t.wall) / np.array(timings[base].wall)):.2f}x")
            print(f"| `{name}` | {params[name]:,} | {nts / 1e6:.2f} M | {ratio} |")


if __name__ == "__main__":
    main()
