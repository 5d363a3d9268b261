"""How fo-pooling is represented in ONNX decides runtime speed; measure the options side by side.

Why: shared/notes/fo-pooling-onnx.md found the legacy exporter's ``Loop`` ~200x slower than a
hand-built ``Scan`` for the bare recurrence. This script measures, in one run on one machine,
ONNX Runtime CPU time per million nucleotides for

* the whole QRNN model exported with each formulation of :mod:`rnaloc_infer.export.scan`
  (``scan_tbh``, ``scan_bht``, ``scan_tbh_fused``) and with the legacy ``Loop`` (scripted
  loop traced by ``torch.onnx.export(dynamo=False)``),
* the recurrence alone in each representation (same B, H, T as inside the model),
* the default formulation under each ORT graph optimisation level,

and checks every variant against eager PyTorch. Results go to the log and, with ``--out``,
to a TSV. docs/EXPORT.md quotes the table.

Run from the repository root (about a minute on 2 cores)::

    /work/venv/bin/python benchmarks/onnx_fo_pooling.py --out benchmarks/results/onnx_fo_pooling.tsv
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import statistics
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper

from rnaloc_infer.export.graph_clean import remove_dead_nodes
from rnaloc_infer.export.onnx_export import build_onnx, trace_to_onnx
from rnaloc_infer.export.prepare import fold_weight_norm
from rnaloc_infer.export.scan import FORMULATIONS, replace_fo_pool
from rnaloc_infer.training.fo_pooling import fo_pool_loop
from rnaloc_infer.training.models import LocalizationModel, ModelConfig

log = logging.getLogger("onnx_fo_pooling")

OPT_LEVELS = {
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session(proto: onnx.ModelProto, threads: int, level: str = "all") -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = OPT_LEVELS[level]
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def timed(run: Callable[[], object], repeats: int) -> float:
    """Median seconds over ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def legacy_loop_model(model: LocalizationModel, opset: int) -> onnx.ModelProto:
    """The whole model with fo-pooling traced as the scripted loop (ONNX Loop + sequence ops)."""
    proto = trace_to_onnx(fold_weight_norm(model), opset=opset, fo_pool_impl=fo_pool_loop)
    remove_dead_nodes(proto)
    return proto


def recurrence_placeholder(hidden: int, opset: int) -> onnx.ModelProto:
    """A graph holding only ``rnaloc::FoPool(f, x, c0)``, for the recurrence-alone rows."""
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("FoPool", ["f", "x", "c0"], ["c"], domain="rnaloc")],
        "fo_pool",
        [vi("f", TensorProto.FLOAT, ["B", hidden, "T"]), vi("x", TensorProto.FLOAT, ["B", hidden, "T"]),
         vi("c0", TensorProto.FLOAT, ["B", hidden])],
        [vi("c", TensorProto.FLOAT, ["B", hidden, "T"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("rnaloc", 1)])


def recurrence_loop(hidden: int, opset: int) -> onnx.ModelProto:
    class Rec(torch.nn.Module):
        def forward(self, f, x, c0):
            return fo_pool_loop(f, x, c0)

    args = tuple(torch.rand(2, hidden, 5) for _ in range(2)) + (torch.zeros(2, hidden),)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Rec(), args, buffer, input_names=["f", "x", "c0"], output_names=["c"], opset_version=opset,
                          dynamic_axes={"f": {0: "B", 2: "T"}, "x": {0: "B", 2: "T"}, "c0": {0: "B"}, "c": {0: "B", 2: "T"}},
                          dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=32000, help="nucleotides per sequence")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--skip-loop", action="store_true", help="skip the slow legacy Loop rows")
    parser.add_argument("--out", type=Path, default=None, help="TSV of the results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    torch.manual_seed(0)
    cfg = ModelConfig(kind="qrnn", hidden=args.hidden, layers=args.layers, stride=args.stride)
    model = LocalizationModel(cfg).eval()
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 5, (args.batch, args.length)).astype(np.uint8)
    lengths = np.full(args.batch, args.length, dtype=np.int64)
    states = [s.numpy() for s in model.zero_states(args.batch)]
    feed = {"tokens": tokens, "lengths": lengths, **{f"state_in_{i}": s for i, s in enumerate(states)}}
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(tokens), torch.from_numpy(lengths), model.zero_states(args.batch))
    reference = torch.sigmoid(logits).numpy()
    mnt = args.batch * args.length / 1e6
    steps = -(-args.length // args.stride)
    log.info("QRNN hidden=%d layers=%d stride=%d; batch %d x %d nt (%d steps); %d ORT thread(s); torch %s, ORT %s",
             args.hidden, args.layers, args.stride, args.batch, args.length, steps, args.threads, torch.__version__,
             ort.__version__)

    rows: List[Dict[str, str]] = []

    def record(what: str, variant: str, level: str, seconds: float, diff: float) -> None:
        rows.append({"what": what, "variant": variant, "ort_opt_level": level, "ms_per_call": f"{seconds * 1e3:.1f}",
                     "ms_per_Mnt": f"{seconds * 1e3 / mnt:.1f}", "max_abs_diff": f"{diff:.1e}"})
        log.info("%-10s %-15s %-12s %9.1f ms/call %10.1f ms/Mnt  diff %.1e", what, variant, level, seconds * 1e3,
                 seconds * 1e3 / mnt, diff)

    # Whole model, each representation.
    protos = {name: build_onnx(model, formulation=name, opset=args.opset) for name in FORMULATIONS}
    if not args.skip_loop:
        protos["legacy_loop"] = legacy_loop_model(model, args.opset)
    for name, proto in protos.items():
        sess = session(proto, args.threads)
        probs = sess.run(None, feed)[0]
        repeats = 1 if name == "legacy_loop" else args.repeats
        record("model", name, "all", timed(lambda: sess.run(None, feed), repeats), float(np.abs(probs - reference).max()))
    with torch.no_grad():
        record("model", "torch_eager", "-", timed(lambda: model(torch.from_numpy(tokens), torch.from_numpy(lengths),
                                                                 model.zero_states(args.batch)), args.repeats), 0.0)

    # Default formulation under each optimisation level.
    for level in OPT_LEVELS:
        sess = session(protos[FORMULATIONS[0]], args.threads, level)
        probs = sess.run(None, feed)[0]
        record("opt_level", FORMULATIONS[0], level, timed(lambda: sess.run(None, feed), args.repeats),
               float(np.abs(probs - reference).max()))

    # Recurrence alone at the model's inner shape.
    f = (1 / (1 + np.exp(-rng.standard_normal((args.batch, args.hidden, steps))))).astype(np.float32)
    x = ((1 - f) * np.tanh(rng.standard_normal(f.shape))).astype(np.float32)
    c0 = np.zeros((args.batch, args.hidden), np.float32)
    with torch.no_grad():
        ref_c = fo_pool_loop(torch.from_numpy(f), torch.from_numpy(x), torch.from_numpy(c0)).numpy()
    rec = {}
    for name in ("scan_tbh", "scan_bht"):
        rec[name] = replace_fo_pool(recurrence_placeholder(args.hidden, args.opset), name)
    if not args.skip_loop:
        rec["legacy_loop"] = recurrence_loop(args.hidden, args.opset)
    rec_feed = {"f": f, "x": x, "c0": c0}
    for name, proto in rec.items():
        sess = session(proto, args.threads)
        out = sess.run(["c"], rec_feed)[0]
        repeats = 1 if name == "legacy_loop" else args.repeats
        record("recurrence", name, "all", timed(lambda: sess.run(["c"], rec_feed), repeats),
               float(np.abs(out - ref_c).max()))
    record("recurrence", "torch_script", "-", timed(
        lambda: fo_pool_loop(torch.from_numpy(f), torch.from_numpy(x), torch.from_numpy(c0)), args.repeats), 0.0)

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
            writer.writeheader()
            writer.writerows(rows)
        log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
