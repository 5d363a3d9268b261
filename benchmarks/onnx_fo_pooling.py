"""How fo-pooling is represented in ONNX decides runtime speed; measure the options side by side.

Why: shared/notes/fo-pooling-onnx.md found the legacy exporter's ``Loop`` ~200x slower than a
hand-built ``Scan`` for the bare recurrence. This script measures, in one run on one machine,
ONNX Runtime CPU time per million nucleotides for

* the whole QRNN model exported with each formulation of ``fo_pooling_formulations.py``
  (``scan_tbh``, ``scan_bht``, ``*_fused``, ``scan_tbh_unrolled{K}``, ``blocked{K}``, and
  ``hybrid16``, the one :mod:`rnaloc_infer.export.scan` ships; ``--formulations`` picks
  some) and with the legacy ``Loop`` (scripted loop traced by ``torch.onnx.export(dynamo=False)``), at the main shape and at
  ``--extra-shapes`` (default 16 x 3,000 nt and one 65,536-nt chunk),
* the recurrence alone in each representation (same B, H, T as inside the model),
* the shipped formulation under each ORT graph optimisation level and with 1 vs 2 threads,

and checks every variant against eager PyTorch. Both wall-clock and process CPU time are
reported: on a shared machine the CPU time is the steadier figure. Results go to the log and, with ``--out``,
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
from rnaloc_infer.export.scan import FORMULATION, replace_fo_pool
from rnaloc_infer.training.fo_pooling import fo_pool_loop
from rnaloc_infer.training.models import LocalizationModel, ModelConfig

from fo_pooling_formulations import FORMULATIONS, LOWERINGS

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


def interleaved(runs: Dict[str, Callable[[], object]], repeats: int, once: Sequence[str] = ()) -> Dict[str, tuple]:
    """Median (wall s, CPU s) per variant; variants alternate round by round (in rotated order) so
    that load from other processes on a shared machine hits all alike. Names in ``once`` run once."""
    samples: Dict[str, List[tuple]] = {name: [] for name in runs}
    for name, run in runs.items():
        if name not in once:
            run()  # warm-up
    names = list(runs)
    for round_ in range(repeats):
        shift = round_ % len(names)  # rotate the order so no variant always runs first
        for name in names[shift:] + names[:shift]:
            if name in once and samples[name]:
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            runs[name]()
            samples[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for name, v in samples.items()}


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
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (the other count is also timed)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--skip-loop", action="store_true", help="skip the slow legacy Loop rows")
    parser.add_argument("--out", type=Path, default=None, help="TSV of the results")
    parser.add_argument("--formulations", default=",".join(FORMULATIONS),
                        help="comma-separated formulations to time (default: all)")
    parser.add_argument("--extra-shapes", default="16x3000,1x65536",
                        help="further BATCHxLENGTH inputs for the whole-model rows ('' to skip)")
    parser.add_argument("--skip-levels", action="store_true", help="skip the ORT optimisation-level rows")
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

    def record(what: str, variant: str, level: str, threads: int, timing: tuple, diff: float) -> None:
        wall, cpu = timing
        rows.append({"what": what, "variant": variant, "ort_opt_level": level, "threads": str(threads),
                     "wall_ms_per_Mnt": f"{wall * 1e3 / mnt:.0f}", "cpu_ms_per_Mnt": f"{cpu * 1e3 / mnt:.0f}",
                     "max_abs_diff": f"{diff:.1e}"})
        log.info("%-16s %-20s %-11s %d thr  wall %8.0f ms/Mnt  cpu %8.0f ms/Mnt  diff %.1e", what, variant, level,
                 threads, wall * 1e3 / mnt, cpu * 1e3 / mnt, diff)

    def check(sess: ort.InferenceSession) -> float:
        return float(np.abs(sess.run(None, feed)[0] - reference).max())

    # 1. Whole model, each representation (and the default with 2 threads).
    chosen = [name for name in args.formulations.split(",") if name]
    chosen += [FORMULATION] if FORMULATION not in chosen else []
    protos = {name: build_onnx(model, lower_fo_pool=LOWERINGS[name], opset=args.opset) for name in chosen}
    if not args.skip_loop:
        protos["legacy_loop"] = legacy_loop_model(model, args.opset)
    sessions = {name: session(proto, args.threads) for name, proto in protos.items()}
    other_threads = 2 if args.threads == 1 else 1
    sessions["threads"] = session(protos[FORMULATION], other_threads)
    diffs = {name: check(sess) for name, sess in sessions.items()}
    runs = {name: (lambda sess=sess: sess.run(None, feed)) for name, sess in sessions.items()}
    timings = interleaved(runs, args.repeats, once=("legacy_loop",))
    for name in sessions:
        if name == "threads":
            record("model", FORMULATION, "all", other_threads, timings[name], diffs[name])
        else:
            record("model", name, "all", args.threads, timings[name], diffs[name])

    # 1b. Whole model at realistic shapes (runtime batches of short records; one long-record chunk).
    for shape in filter(None, args.extra_shapes.split(",")):
        b, n = (int(v) for v in shape.split("x"))
        toks = rng.integers(0, 5, (b, n)).astype(np.uint8)
        feed_b = {"tokens": toks, "lengths": np.full(b, n, dtype=np.int64),
                  **{f"state_in_{i}": s.numpy() for i, s in enumerate(model.zero_states(b))}}
        with torch.no_grad():
            ref_b = torch.sigmoid(model(torch.from_numpy(toks), torch.from_numpy(feed_b["lengths"]),
                                        model.zero_states(b))[0]).numpy()
        sess_b = {name: sessions[name] for name in chosen}
        timings = interleaved({k: (lambda s=s: s.run(None, feed_b)) for k, s in sess_b.items()}, args.repeats)
        scale = mnt / (b * n / 1e6)  # record() divides by the main input's Mnt
        for name, sess in sess_b.items():
            record(f"model_{shape}", name, "all", args.threads, (timings[name][0] * scale, timings[name][1] * scale),
                   float(np.abs(sess.run(None, feed_b)[0] - ref_b).max()))

    # 2. Default formulation under each ORT graph optimisation level.
    level_sessions = {} if args.skip_levels else {
        level: session(protos[FORMULATION], args.threads, level) for level in OPT_LEVELS}
    timings = interleaved({k: (lambda s=s: s.run(None, feed)) for k, s in level_sessions.items()}, args.repeats) if level_sessions else {}
    for level, sess in level_sessions.items():
        record("opt_level", FORMULATION, level, args.threads, timings[level], check(sess))

    # 3. The recurrence alone at the model's inner shape (per Mnt of the model input it stands for).
    f = (1 / (1 + np.exp(-rng.standard_normal((args.batch, args.hidden, steps))))).astype(np.float32)
    x = ((1 - f) * np.tanh(rng.standard_normal(f.shape))).astype(np.float32)
    c0 = np.zeros((args.batch, args.hidden), np.float32)
    tensors = [torch.from_numpy(a) for a in (f, x, c0)]
    ref_c = fo_pool_loop(*tensors).numpy()
    rec_names = dict.fromkeys(name[: -len("_fused")] if name.endswith("_fused") else name for name in chosen)
    rec = {name: replace_fo_pool(recurrence_placeholder(args.hidden, args.opset), LOWERINGS[name]) for name in rec_names}
    if not args.skip_loop:
        rec["legacy_loop"] = recurrence_loop(args.hidden, args.opset)
    rec_feed = {"f": f, "x": x, "c0": c0}
    rec_sessions = {name: session(proto, args.threads) for name, proto in rec.items()}
    rec_runs = {name: (lambda s=s: s.run(["c"], rec_feed)) for name, s in rec_sessions.items()}
    timings = interleaved(rec_runs, args.repeats, once=("legacy_loop",))
    for name, sess in rec_sessions.items():
        record("recurrence", name, "all", args.threads, timings[name], float(np.abs(sess.run(["c"], rec_feed)[0] - ref_c).max()))

    # 4. PyTorch for scale, timed last and apart: its OpenMP threads spin after each op and
    # would slow whichever ORT call ran next.
    torch_inputs = (torch.from_numpy(tokens), torch.from_numpy(lengths))
    with torch.no_grad():
        timings = interleaved({"eager": lambda: model(*torch_inputs, model.zero_states(args.batch)),
                               "script": lambda: fo_pool_loop(*tensors)}, args.repeats)
    record("model", "torch_eager", "-", torch.get_num_threads(), timings["eager"], 0.0)
    record("recurrence", "torch_script", "-", torch.get_num_threads(), timings["script"], 0.0)

    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
            writer.writeheader()
            writer.writerows(rows)
        log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
