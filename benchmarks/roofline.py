"""The limit written down: FLOPs and bytes per nucleotide, member by member, the machine's peak
on the same kind of work, and the fraction of it the runtime reaches (issue 21).

    python benchmarks/roofline.py [--models default,fast] [--records 400] [--threads 1,2]

1. **Work per nt, from the graph as it runs**: one ONNX Runtime profile
   (``SessionOptions.enable_profiling``) of the runtime's batches over a sample of the
   validation set. Every node event carries its input/output shapes, so FLOPs are exact for
   those shapes: Conv = 2·B·C_out·T_out·C_in·K (+ bias/activation), Gemm/MatMul = 2·M·N·K,
   arithmetic element-wise ops 1 per output element (reductions and pooling: per input
   element), data movement (Gather, Transpose, Concat, Pad, Slice, ...) 0. Bytes = the node's
   inputs + outputs + weights, i.e. traffic if nothing stayed in cache between nodes (an
   upper bound). Nodes are grouped by member (``/model/members.K/`` = member K+2) and part:
   front convolution, one-hot / masks / pooling, QRNN layers (convolution + gates), the
   recurrence (``fo_pool`` If/Scan and the ops inside its bodies), heads, the k-mer and coding
   regression. The protein features are numpy, timed separately per nt.
2. **Peak on the same work**: single-node ORT graphs with exactly the model's convolution
   shapes (batch of 65,536 nt) and a 1024³ GEMM, on each thread count given.
3. **Fraction reached**: the model's FLOPs/nt x its measured nt/s (the same batches, no
   profiling, ``predict_stream`` with 1 and N worker threads) over the convolution peak.

The profile's times (kernel time per group) say where the time goes; they include the
profiler's own per-node overhead, which inflates the many tiny nodes of the recurrence.
4. **Python profile** (cProfile) of the whole command (``rnaloc_infer.cli.predict.run``, one
   worker: FASTA read, batching, protein features, ONNX Runtime, TSV write) on the validation
   sample and on 300-nt records: the functions with the most own time.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gzip
import io
import pstats
import json
import os
import tempfile
import time
from typing import Dict, List, Tuple

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from rnaloc_infer.batching import BatchConfig, predict_stream
from rnaloc_infer.bundled import resolve_model
from rnaloc_infer.features.coding import coding_feature_matrix
from rnaloc_infer.fasta import Record, read_fasta
from rnaloc_infer.session import ModelSession, session_options

VALID = "/work/shared/data/dm3loc_valid.fa.gz"
ARITHMETIC = {"Add", "Sub", "Mul", "Div", "Sigmoid", "Tanh", "Relu", "Where", "Max", "Min", "Clip", "Log", "Exp",
              "Neg", "Sqrt", "Pow", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Equal", "Not", "And", "Or", "Xor"}
PER_INPUT = {"ReduceSum", "ReduceMax", "ReduceMean", "MaxPool", "AveragePool"}


def _elements(shape_list) -> List[int]:
    return [int(np.prod(next(iter(s.values())))) if next(iter(s.values())) else 1 for s in shape_list]


def node_flops(op: str, inputs, outputs) -> float:
    """FLOPs of one node run from its profiled input/output shapes."""
    if op in ("Conv", "FusedConv"):
        w = next(iter(inputs[1].values()))
        out = next(iter(outputs[0].values()))
        c_out, c_in_per_group, k = w[0], w[1], int(np.prod(w[2:]))
        return 2.0 * out[0] * c_out * int(np.prod(out[2:])) * c_in_per_group * k + 2.0 * int(np.prod(out))
    if op in ("Gemm", "MatMul", "FusedGemm", "FusedMatMul"):  # no transA in these graphs: K = A's last axis
        return 2.0 * _elements(outputs)[0] * next(iter(inputs[0].values()))[-1]
    if op in ARITHMETIC:
        return float(sum(_elements(outputs)))
    if op in PER_INPUT:
        return float(_elements(inputs)[0])
    return 0.0


def _member_of_recurrence(model: onnx.ModelProto) -> Dict[str, str]:
    """fo_pool_K (the If node) -> member label, from the tensors its branches read."""
    out = {}
    for node in model.graph.node:
        if node.op_type == "If" and node.name.startswith("fo_pool_"):
            text = str(node.attribute)
            out[node.name] = _member(text)
    return out


def _member(name: str) -> str:
    for k in range(8):
        if f"/members.{k}/" in name:
            return f"member {k + 2}"
    return "member 1"


def _part(name: str, op: str) -> str:
    if name.startswith("fo_pool"):
        return "recurrence (fo-pooling If/Scan)"
    if "/motif/" in name and op in ("Conv", "FusedConv"):
        return "front convolution (motif, full resolution)"
    if "/body." in name:
        return "QRNN layers (convolution + gates)"
    if "/linear" in name or op == "MatMul":
        return "k-mer tables + coding regression"
    if "/head/" in name or "/pool/" in name:
        return "heads (pooling + MLP)"
    return "one-hot, masks, pooling, glue"


def sample_records(count: int) -> List[Record]:
    """The first ``count`` validation records (0: all); contiguous, so batches pad as in real runs."""
    records = [r for r in read_fasta(VALID, warn_duplicates=False) if isinstance(r, Record)]
    return records[:count] if count else records


def python_profile(model: str, records: List[Record], label: str, folder: str, top: int = 8) -> None:
    """cProfile of the whole command on these records; prints the top functions by own time."""
    from rnaloc_infer.cli.predict import RunOptions, run

    fasta = os.path.join(folder, f"{label}.fa.gz")
    with gzip.open(fasta, "wb", compresslevel=1) as fh:
        for r in records:
            fh.write(b">%s\n%s\n" % (r.id.encode(), np.frombuffer(b"ACGTN", np.uint8)[r.codes].tobytes()))
    profiler = cProfile.Profile()
    profiler.enable()
    run(RunOptions([fasta], output=os.path.join(folder, "out.tsv"), model=model, threads=1, progress=False))
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    total = stats.total_tt
    print(f"\nPython profile, `{model}`, {label} ({sum(r.length for r in records):,} nt, 1 worker): {total:.1f} s\n")
    print("| function | own s | share |\n|---|---:|---:|")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, name), (_, _, own, _, _) in rows:
        where = f"{os.path.basename(filename)}:{line}" if line else "built-in"
        print(f"| `{name}` ({where}) | {own:.2f} | {own / total:.0%} |")


def profile_model(path: str, records: List[Record]) -> Tuple[Dict, Dict, int]:
    """(FLOPs, bytes, profiled kernel µs) per (member, part), and the nt profiled."""
    model = onnx.load(path)
    top = {n.name for n in model.graph.node}
    recurrence_member = _member_of_recurrence(model)
    n_recurrences = collections.Counter(recurrence_member.values())
    with tempfile.TemporaryDirectory() as tmp:
        options = session_options(None)
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ModelSession(path, device="cpu", prefer_int8=False)
        session._session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        for _ in predict_stream(iter(records), session, BatchConfig()):
            pass
        events = json.load(open(session._session.end_profiling()))
    flops, traffic, micros = collections.Counter(), collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        name, args = e["name"][: -len("_kernel_time")], e["args"]
        op = args.get("op_name", "")
        f = node_flops(op, args.get("input_type_shape", []), args.get("output_type_shape", []))
        b = float(args.get("activation_size", 0)) + float(args.get("parameter_size", 0)) + float(args.get("output_size", 0))
        if name in top:
            member = recurrence_member.get(name) or _member(name)
            key = (member, _part(name, op))
            micros[key] += e["dur"]
            flops[key] += f
            traffic[key] += b if op != "If" else 0.0  # an If's traffic is its branches' nodes
        else:  # inside a Scan body / If branch: the recurrences, shared out by their count per member
            total = sum(n_recurrences.values())
            for member, count in n_recurrences.items():
                key = (member, "recurrence (fo-pooling If/Scan)")
                flops[key] += f * count / total
                traffic[key] += b * count / total
    return flops, traffic, micros, sum(r.length for r in records)


def features_seconds_per_mnt(records: List[Record]) -> float:
    batches = [[r.codes for r in records[i : i + 16]] for i in range(0, len(records), 16)]
    started = time.perf_counter()
    for b in batches:
        coding_feature_matrix(b)
    return (time.perf_counter() - started) / sum(r.length for r in records) * 1e6


# ----------------------------------------------------------------------------- peak
def _single_node_model(node: onnx.NodeProto, inputs, weights) -> bytes:
    graph = helper.make_graph([node], "peak", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def peak_gflops(kind: str, threads: int, batch_nt: int = 65_536, stride: int = 8, repeats: int = 5) -> float:
    """Best-of GFLOP/s of one ORT node with the model's shapes, on ``threads`` intra-op threads."""
    rng = np.random.default_rng(0)
    f32 = TensorProto.FLOAT
    if kind == "front conv 5->64, k=9":
        b, t, cin, cout, k = 8, batch_nt // 8, 5, 64, 9
    elif kind == "QRNN conv 64->192, k=2":
        b, t, cin, cout, k = 8, batch_nt // 8 // stride, 64, 192, 2
    else:  # a plain 1024^3 GEMM: what the machine does at its best
        x = rng.standard_normal((1024, 1024)).astype(np.float32)
        w = helper.make_tensor("w", f32, [1024, 1024], x.tobytes(), raw=True)
        blob = _single_node_model(helper.make_node("MatMul", ["x", "w"], ["y"]), [helper.make_tensor_value_info("x", f32, [1024, 1024])], [w])
        session = ort.InferenceSession(blob, sess_options=session_options(threads), providers=["CPUExecutionProvider"])
        session.run(None, {"x": x})
        return 2.0 * 1024**3 / min(_timed(lambda: session.run(None, {"x": x})) for _ in range(repeats)) / 1e9
    w = helper.make_tensor("w", f32, [cout, cin, k], rng.standard_normal(cout * cin * k).astype(np.float32).tobytes(), raw=True)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[k])
    blob = _single_node_model(node, [helper.make_tensor_value_info("x", f32, [b, cin, t + k - 1])], [w])
    options = session_options(threads)
    session = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((b, cin, t + k - 1)).astype(np.float32)
    session.run(None, {"x": x})
    best = min(_timed(lambda: session.run(None, {"x": x})) for _ in range(repeats))
    return 2.0 * b * cout * t * cin * k / best / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measured_nt_per_s(path: str, records: List[Record], workers: int, repeats: int = 2, int8: bool = False) -> float:
    """The runtime's speed on ``records``: the fp32 file, or with ``int8`` its int8 twin."""
    session = ModelSession(path, device="cpu", prefer_int8=int8)
    if int8 and session.info.precision != "int8":
        return float("nan")
    nt = sum(r.length for r in records)
    best = min(_timed(lambda: list(predict_stream(iter(records), session, BatchConfig(), workers=workers))) for _ in range(repeats))
    return nt / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="default,fast")
    parser.add_argument("--records", type=int, default=0, help="the first N validation records (0: all)")
    parser.add_argument("--short-records", type=int, default=20_000, help="300-nt records for the Python profile")
    parser.add_argument("--skip", default="", help="comma list: peak, ort, python")
    parser.add_argument("--threads", default="1,2", help="thread counts for the peak and the measured speed")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    records = sample_records(args.records)
    print(f"sample: {len(records)} validation records, {sum(r.length for r in records):,} nt; load average {os.getloadavg()[0]:.1f}")
    kinds = ["front conv 5->64, k=9", "QRNN conv 64->192, k=2", "GEMM 1024^3"]
    peaks = {(k, t): peak_gflops(k, t) for t in threads for k in (kinds if "peak" not in skip else kinds[1:2])}
    print("\n| ORT node, batch of 65,536 nt | " + " | ".join(f"{t} thread{'s' if t > 1 else ''} GFLOP/s" for t in threads) + " |")
    print("|---|" + "---:|" * len(threads))
    for k in kinds:
        if (k, threads[0]) in peaks:
            print(f"| {k} | " + " | ".join(f"{peaks[(k, t)]:.1f}" for t in threads) + " |")
    feature_s = features_seconds_per_mnt(records)
    for name in args.models.split(",") if "ort" not in skip else []:
        path = str(resolve_model(name))
        flops, traffic, micros, nt = profile_model(path, records)
        total_f, total_b, total_us = sum(flops.values()), sum(traffic.values()), sum(micros.values())
        print(f"\n`{name}` ({nt:,} nt profiled): {total_f / nt:,.0f} FLOPs/nt, {total_b / nt:,.0f} bytes/nt "
              f"(arithmetic intensity {total_f / total_b:.2f} FLOP/byte); protein features (numpy): {feature_s:.3f} s/Mnt")
        print("\n| member | part | FLOPs/nt | bytes/nt | share of FLOPs | share of profiled kernel time |\n|---|---|---:|---:|---:|---:|")
        for key in sorted(set(flops) | set(micros), key=lambda k: (k[0], -flops[k])):
            if flops[key] == 0 and micros[key] < 0.005 * total_us:
                continue
            print(f"| {key[0]} | {key[1]} | {flops[key] / nt:,.0f} | {traffic[key] / nt:,.0f} | "
                  f"{flops[key] / total_f:.1%} | {micros[key] / total_us:.1%} |")
        conv_peak = {t: peaks[("QRNN conv 64->192, k=2", t)] for t in threads}
        print("\n| file | worker threads | measured Mnt/s | achieved GFLOP/s (fp32 FLOPs) | QRNN-conv peak GFLOP/s | fraction of peak |"
              "\n|---|---:|---:|---:|---:|---:|")
        for int8 in (False, True):
            for t in threads:
                speed = measured_nt_per_s(path, records, t, int8=int8)
                if speed != speed:  # no int8 twin ships for this model
                    continue
                achieved = speed * total_f / nt / 1e9
                print(f"| {'int8 twin' if int8 else 'fp32'} | {t} | {speed / 1e6:.2f} | {achieved:.1f} | {conv_peak[t]:.1f} | "
                      f"{achieved / conv_peak[t]:.0%} |")
    if "python" not in skip:
        rng = np.random.default_rng(21)
        short = [Record(f"s{i}", f"s{i}", rng.integers(0, 4, 300).astype(np.uint8), "<synthetic>", i + 1)
                 for i in range(args.short_records)]
        with tempfile.TemporaryDirectory() as folder:
            for name in args.models.split(","):
                python_profile(name, records, "validation sample", folder)
                python_profile(name, short, f"{len(short):,} x 300 nt", folder)


if __name__ == "__main__":
    main()
