"""Replace ``rnaloc::FoPool`` placeholders with standard ONNX nodes: the formulation that ships.

Why: the legacy exporter turns a scripted time loop into ONNX ``Loop`` + sequence ops,
~200x slower in ONNX Runtime than a ``Scan`` whose body is one multiply-add
(shared/notes/fo-pooling-onnx.md). The training code emits an opaque placeholder
``FoPool(f, x, c0) -> c`` (f, x, c: [B, H, T]; c0: [B, H]); this module swaps in the
recurrence ``c_t = f_t * c_{t-1} + x_t`` so the file needs no custom-op library.

Shipped formulation, ``hybrid16``: per layer ``If(batch <= HYBRID_MAX_BATCH)``

* then ``blocked16``: a two-level recurrence, exact (no division, no logs): time-major,
  x = (1 - f) * z on the whole tensor, padded in-graph to a multiple of 16 with f = 1, x = 0
  (so the state is held through the pad), time viewed as N = T/16 blocks whose 16 positions
  are Split; (1) 16 unrolled steps, each *vectorised over all N blocks*, give every block's
  local state S (started from 0) and cumulative product P of f; (2) a Scan over the N blocks
  carries the true state across block ends (c_end = P_16 * c_start + S_16); (3)
  c = P * c_start + S per slice, one Concat. About 5*16 + 3T/16 node runs instead of ~5T.
* else the per-step ``Scan`` (time-major, ``scan_tbh_fused``): the body reads f_t and z_t and
  forms ``x_t = (1 - f_t) * z_t`` itself when the graph has that pattern, so the whole-tensor
  Sub/Mul before the Scan disappear.

ORT's Scan cost is per node run, so the per-step Scan is slowest where a step carries little
data (batch-1 long-record chunks: blocked16 is ~2.3x faster there); with big batches of short
records the per-step Scan is ~10-15 % faster. docs/EXPORT.md has the figures;
benchmarks/fo_pooling_formulations.py keeps the measured alternatives so they stay reproducible.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable, List, Optional, Tuple

import onnx
from onnx import TensorProto, helper

log = logging.getLogger(__name__)

PLACEHOLDER_DOMAIN = "rnaloc"
PLACEHOLDER_OP = "FoPool"
FORMULATION = "hybrid16"  # the name docs and benchmarks use for what :func:`hybrid_nodes` builds
BLOCK = 16  # blocked16's block length
HYBRID_MAX_BATCH = 8  # blocked16 for batch <= this, the per-step Scan above

# (placeholder node, its index, tensor type of f/x/c, graph) -> the nodes replacing it
Lowering = Callable[[onnx.NodeProto, int, int, onnx.GraphProto], List[onnx.NodeProto]]


def scan_body(name: str, elem_type: int, fused: bool = False) -> onnx.GraphProto:
    """Scan body: state c_in, scan inputs f_t and x_t (or z_t when fused); returns (c_out, c_scan)."""
    nodes = []
    initializers = []
    second = "x_t"
    if fused:
        second = "z_t"
        initializers.append(helper.make_tensor("one", elem_type, [], [1.0]))
        nodes += [
            helper.make_node("Sub", ["one", "f_t"], ["one_minus_f"]),
            helper.make_node("Mul", ["one_minus_f", "z_t"], ["x_t"]),
        ]
    nodes += [
        helper.make_node("Mul", ["f_t", "c_in"], ["fc"]),
        helper.make_node("Add", ["fc", "x_t"], ["c_out"]),
        helper.make_node("Identity", ["c_out"], ["c_scan"]),
    ]
    vi = helper.make_tensor_value_info
    return helper.make_graph(
        nodes,
        name,
        [vi("c_in", elem_type, None), vi("f_t", elem_type, None), vi(second, elem_type, None)],
        [vi("c_out", elem_type, None), vi("c_scan", elem_type, None)],
        initializer=initializers,
    )


def find_z(graph: onnx.GraphProto, f: str, x: str) -> Optional[str]:
    """Return z when ``x`` is computed as ``(1 - f) * z`` in the graph, else None."""
    producers = {out: n for n in graph.node for out in n.output}
    mul = producers.get(x)
    if mul is None or mul.op_type != "Mul":
        return None
    for a, b in (mul.input, reversed(mul.input)):
        sub = producers.get(a)
        if sub is not None and sub.op_type == "Sub" and sub.input[1] == f and _is_one(graph, producers, sub.input[0]):
            return b
    return None


def _is_one(graph: onnx.GraphProto, producers: dict, name: str) -> bool:
    from onnx import numpy_helper

    node = producers.get(name)
    tensors = [a.t for a in node.attribute if a.name == "value"] if node is not None and node.op_type == "Constant" else []
    tensors += [t for t in graph.initializer if t.name == name]
    return any(numpy_helper.to_array(t).size == 1 and float(numpy_helper.to_array(t).ravel()[0]) == 1.0 for t in tensors)


def constant(name: str, data_type: int, dims, vals) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], name=name, value=helper.make_tensor(name + "_v", data_type, dims, vals))


def carry_body(name: str, elem_type: int) -> onnx.GraphProto:
    """State c [B, H]; scan inputs P_end, S_end [B, H]; scan output: the state entering the block."""
    nodes = [
        helper.make_node("Identity", ["c_in"], ["c_start"]),
        helper.make_node("Mul", ["p_e", "c_in"], ["b_pc"]),
        helper.make_node("Add", ["b_pc", "s_e"], ["c_out"]),
    ]
    vi = helper.make_tensor_value_info
    return helper.make_graph(
        nodes, name, [vi("c_in", elem_type, None), vi("p_e", elem_type, None), vi("s_e", elem_type, None)],
        [vi("c_out", elem_type, None), vi("c_start", elem_type, None)],
    )


def _blocked_nodes(f: str, second: str, c0: str, c: str, tag: str, k: int, elem_type: int,
                   fused: bool) -> List[onnx.NodeProto]:
    """Two-level recurrence: K unrolled steps vectorised over all N blocks, then a Scan over N."""
    i64 = TensorProto.INT64
    z = lambda n: f"{tag}_{n}"  # noqa: E731
    nodes = [
        constant(z("k"), i64, [1], [k]),
        constant(z("one"), elem_type, [], [1.0]),
        constant(z("zero"), elem_type, [], [0.0]),
        constant(z("m1k"), i64, [2], [-1, k]),
        constant(z("m1"), i64, [1], [-1]),
        constant(z("zero_i"), i64, [1], [0]),
        constant(z("ax0"), i64, [1], [0]),
        constant(z("ax1"), i64, [1], [1]),
        constant(z("split"), i64, [k], [1] * k),
        helper.make_node("Transpose", [f], [z("f_tm")], name=z("tf"), perm=[2, 0, 1]),
        helper.make_node("Transpose", [second], [z("s_tm")], name=z("ts"), perm=[2, 0, 1]),
    ]
    x_tm = z("s_tm")
    if fused:
        x_tm = z("x_tm")
        nodes += [
            helper.make_node("Sub", [z("one"), z("f_tm")], [z("omf")], name=z("omf")),
            helper.make_node("Mul", [z("omf"), z("s_tm")], [x_tm], name=z("x")),
        ]
    nodes += [
        # pad time to a multiple of K with f = 1, x = 0 (state held through the pad)
        helper.make_node("Shape", [z("f_tm")], [z("T")], name=z("shape_t"), start=0, end=1),
        helper.make_node("Shape", [z("f_tm")], [z("bh")], name=z("shape_bh"), start=1),
        helper.make_node("Mod", [z("T"), z("k")], [z("tmod")], name=z("mod1")),
        helper.make_node("Sub", [z("k"), z("tmod")], [z("kmt")], name=z("kmt")),
        helper.make_node("Mod", [z("kmt"), z("k")], [z("npad")], name=z("mod2")),
        helper.make_node("Concat", [z("npad"), z("bh")], [z("pad_shape")], name=z("pad_shape"), axis=0),
        helper.make_node("Expand", [z("one"), z("pad_shape")], [z("f_pad")], name=z("f_pad")),
        helper.make_node("Expand", [z("zero"), z("pad_shape")], [z("x_pad")], name=z("x_pad")),
        helper.make_node("Concat", [z("f_tm"), z("f_pad")], [z("fp")], name=z("cat_f"), axis=0),
        helper.make_node("Concat", [x_tm, z("x_pad")], [z("xp")], name=z("cat_x"), axis=0),
        # [T', B, H] -> [N, K, B, H] -> K slices [N, 1, B, H]
        helper.make_node("Concat", [z("m1k"), z("bh")], [z("blk_shape")], name=z("blk_shape"), axis=0),
        helper.make_node("Concat", [z("m1"), z("bh")], [z("flat_shape")], name=z("flat_shape"), axis=0),
        helper.make_node("Reshape", [z("fp"), z("blk_shape")], [z("f4")], name=z("rf")),
        helper.make_node("Reshape", [z("xp"), z("blk_shape")], [z("x4")], name=z("rx")),
        helper.make_node("Split", [z("f4"), z("split")], [z(f"f_{i}") for i in range(k)], name=z("split_f"), axis=1),
        helper.make_node("Split", [z("x4"), z("split")], [z(f"x_{i}") for i in range(k)], name=z("split_x"), axis=1),
    ]
    # within-block state from 0 (S) and cumulative product of f (P), all blocks at once
    s_names, p_names = [z("x_0")], [z("f_0")]
    for i in range(1, k):
        nodes += [
            helper.make_node("Mul", [z(f"f_{i}"), s_names[-1]], [z(f"fs{i}")], name=z(f"fs{i}")),
            helper.make_node("Add", [z(f"fs{i}"), z(f"x_{i}")], [z(f"S{i}")], name=z(f"S{i}")),
            helper.make_node("Mul", [z(f"f_{i}"), p_names[-1]], [z(f"P{i}")], name=z(f"P{i}")),
        ]
        s_names.append(z(f"S{i}"))
        p_names.append(z(f"P{i}"))
    nodes += [
        helper.make_node("Squeeze", [s_names[-1], z("ax1")], [z("s_end")], name=z("s_end")),
        helper.make_node("Squeeze", [p_names[-1], z("ax1")], [z("p_end")], name=z("p_end")),
        helper.make_node(
            "Scan", [c0, z("p_end"), z("s_end")], [z("c_last"), z("c_start")], name=tag,
            num_scan_inputs=2, body=carry_body(z("carry_body"), elem_type),
        ),
        helper.make_node("Unsqueeze", [z("c_start"), z("ax1")], [z("c_start4")], name=z("c_start4")),
    ]
    # c = P * c_start + S, slice by slice (one Concat instead of two plus whole-tensor ops)
    for i in range(k):
        nodes += [
            helper.make_node("Mul", [p_names[i], z("c_start4")], [z(f"pc{i}")], name=z(f"pc{i}")),
            helper.make_node("Add", [z(f"pc{i}"), s_names[i]], [z(f"c_{i}")], name=z(f"c_{i}")),
        ]
    nodes += [
        helper.make_node("Concat", [z(f"c_{i}") for i in range(k)], [z("c4")], name=z("cat_c"), axis=1),
        helper.make_node("Reshape", [z("c4"), z("flat_shape")], [z("c_pad")], name=z("rc")),
        helper.make_node("Slice", [z("c_pad"), z("zero_i"), z("T"), z("ax0")], [z("c_tm")], name=z("slice")),
        helper.make_node("Transpose", [z("c_tm")], [c], name=z("tc"), perm=[1, 2, 0]),
    ]
    return nodes


def fused_input(graph: onnx.GraphProto, f: str, x: str, tag: str) -> Tuple[str, bool]:
    """(z, True) when x = (1 - f) * z in the graph (the Scan may form x itself), else (x, False)."""
    z = find_z(graph, f, x)
    if z is None:
        log.warning("fo-pooling input is not (1 - f) * z; %s uses x directly", tag)
        return x, False
    return z, True


def per_step_nodes(node: onnx.NodeProto, index: int, elem_type: int, graph: onnx.GraphProto,
                   fuse: bool = True) -> List[onnx.NodeProto]:
    """``scan_tbh_fused`` (``fuse=False``: ``scan_tbh``): transpose to time-major [T, B, H], one
    Scan step per time step, transpose back; each step reads a contiguous [B, H] slab."""
    f, x, c0 = node.input
    (c,) = node.output
    tag = f"fo_pool_{index}"
    second, fused = fused_input(graph, f, x, tag) if fuse else (x, False)
    return [
        helper.make_node("Transpose", [f], [f"{tag}_f_tm"], name=f"{tag}_tf", perm=[2, 0, 1]),
        helper.make_node("Transpose", [second], [f"{tag}_x_tm"], name=f"{tag}_tx", perm=[2, 0, 1]),
        helper.make_node(
            "Scan", [c0, f"{tag}_f_tm", f"{tag}_x_tm"], [f"{tag}_c_last", f"{tag}_c_tm"], name=tag,
            num_scan_inputs=2, body=scan_body(f"{tag}_body", elem_type, fused),
        ),
        helper.make_node("Transpose", [f"{tag}_c_tm"], [c], name=f"{tag}_tc", perm=[1, 2, 0]),
    ]


def blocked_nodes(node: onnx.NodeProto, index: int, elem_type: int, graph: onnx.GraphProto,
                  k: int = BLOCK) -> List[onnx.NodeProto]:
    """``blocked{k}``: see the module docstring."""
    f, x, c0 = node.input
    (c,) = node.output
    tag = f"fo_pool_{index}"
    second, fused = fused_input(graph, f, x, tag)
    return _blocked_nodes(f, second, c0, c, tag, k, elem_type, fused)


def hybrid_nodes(node: onnx.NodeProto, index: int, elem_type: int, graph: onnx.GraphProto) -> List[onnx.NodeProto]:
    """``If`` batch <= HYBRID_MAX_BATCH: blocked16, else the per-step Scan (both read the outer f, z, c0)."""
    c0 = node.input[2]
    (c,) = node.output
    tag = f"fo_pool_{index}"
    branches = []
    for suffix, lower in (("blk", blocked_nodes), ("seq", per_step_nodes)):
        inner = onnx.NodeProto()
        inner.CopyFrom(node)
        del inner.output[:]
        inner.output.append(f"{tag}_{suffix}_c")
        nodes = lower(inner, index, elem_type, graph)
        for n in nodes:  # distinct value and node names in the two branches
            n.name = n.name.replace(tag, f"{tag}_{suffix}", 1)
            for seq in (n.input, n.output):
                for i, name in enumerate(seq):
                    if name.startswith(tag + "_") and not name.startswith(f"{tag}_{suffix}_"):
                        seq[i] = name.replace(tag, f"{tag}_{suffix}", 1)
        branches.append(helper.make_graph(
            nodes, f"{tag}_{suffix}", [], [helper.make_tensor_value_info(f"{tag}_{suffix}_c", elem_type, None)]))
    i64 = TensorProto.INT64
    return [
        constant(f"{tag}_max_b", i64, [1], [HYBRID_MAX_BATCH]),
        helper.make_node("Shape", [c0], [f"{tag}_b"], name=f"{tag}_shape_b", start=0, end=1),
        helper.make_node("LessOrEqual", [f"{tag}_b", f"{tag}_max_b"], [f"{tag}_small_v"], name=f"{tag}_small_v"),
        helper.make_node("Squeeze", [f"{tag}_small_v"], [f"{tag}_small"], name=f"{tag}_small"),
        helper.make_node("If", [f"{tag}_small"], [c], name=tag, then_branch=branches[0], else_branch=branches[1]),
    ]


def _elem_type(graph: onnx.GraphProto, name: str) -> int:
    for info in list(graph.value_info) + list(graph.output) + list(graph.input):
        if info.name == name and info.type.tensor_type.elem_type:
            return info.type.tensor_type.elem_type
    return TensorProto.FLOAT


def replace_fo_pool(model: onnx.ModelProto, lower: Lowering = hybrid_nodes, *,
                    elem_type: Optional[int] = None) -> onnx.ModelProto:
    """In place: every FoPool placeholder becomes standard nodes; the custom opset import is dropped.

    ``lower`` builds the replacement (the shipped :func:`hybrid_nodes`; the fo-pooling benchmark
    passes the alternatives it measures). ``elem_type`` is the tensor type of f, x and c
    (float or float16); looked up when None.
    """
    graph = model.graph
    new_nodes: List[onnx.NodeProto] = []
    replaced = 0
    for node in graph.node:
        if node.domain == PLACEHOLDER_DOMAIN and node.op_type == PLACEHOLDER_OP:
            new_nodes.extend(lower(node, replaced, elem_type or _elem_type(graph, node.output[0]), graph))
            replaced += 1
        else:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    _drop_opsets(model, [PLACEHOLDER_DOMAIN])
    log.debug("replaced %d FoPool placeholder(s) with %s", replaced, getattr(lower, "__name__", lower))
    return model


def _drop_opsets(model: onnx.ModelProto, domains: Iterable[str]) -> None:
    keep = [op for op in model.opset_import if op.domain not in set(domains)]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def non_default_domains(model: onnx.ModelProto) -> List[str]:
    """Domains of nodes (including subgraph bodies) outside the default ONNX domain and ONNX-ML
    (which every ONNX Runtime build implements: the forest's trees)."""
    found: List[str] = []

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            if node.domain not in ("", "ai.onnx", "ai.onnx.ml"):
                found.append(f"{node.domain}::{node.op_type}")
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(model.graph)
    return found
