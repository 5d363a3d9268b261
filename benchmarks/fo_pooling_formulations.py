"""The fo-pooling formulations measured against the shipped one (docs/EXPORT.md).

Why here and not in the package: only ``hybrid16`` ships (:mod:`rnaloc_infer.export.scan`),
but the comparison that chose it must stay reproducible, so benchmarks/onnx_fo_pooling.py
builds every alternative from this module:

* ``scan_tbh`` / ``scan_tbh_fused`` - the per-step Scan over time-major [T, B, H] (fused: the
  body forms x = (1 - f) * z itself); the shipped ``else`` branch.
* ``scan_bht`` / ``scan_bht_fused`` - one Scan directly over axis 2 of the channel-major tensors.
* ``scan_tbh_unrolled{K}`` (K in UNROLL_FACTORS; fused when the pattern is there) - time
  axis padded in-graph to a multiple of K with f = 1, z = 0, reshaped to [T/K, K, B, H]; the
  Scan body chains K Mul/Add steps, so ORT runs T/K iterations, not T.
* ``blocked{K}`` (K in BLOCK_SIZES) - the shipped ``then`` branch's two-level recurrence
  with other block lengths.
* ``hybrid16`` - what ships.

Every variant is checked against eager PyTorch by the benchmark (``max_abs_diff`` column).
"""

from __future__ import annotations

import functools
from typing import Dict, List

import onnx
from onnx import TensorProto, helper

from rnaloc_infer.export.scan import (
    FORMULATION,
    Lowering,
    blocked_nodes,
    constant,
    fused_input,
    hybrid_nodes,
    per_step_nodes,
    scan_body,
)

UNROLL_FACTORS = (4, 8, 16, 32)
BLOCK_SIZES = (16, 32, 64)


def scan_bht_nodes(node: onnx.NodeProto, index: int, elem_type: int, graph: onnx.GraphProto,
                   fuse: bool = False) -> List[onnx.NodeProto]:
    """One Scan with ``scan_input_axes=[2, 2]``, ``scan_output_axes=[2]`` on the [B, H, T] tensors."""
    f, x, c0 = node.input
    (c,) = node.output
    tag = f"fo_pool_{index}"
    second, fused = fused_input(graph, f, x, tag) if fuse else (x, False)
    return [helper.make_node(
        "Scan", [c0, f, second], [f"{tag}_c_last", c], name=tag, num_scan_inputs=2,
        body=scan_body(f"{tag}_body", elem_type, fused), scan_input_axes=[2, 2], scan_output_axes=[2],
    )]


def _pad_time(f: str, second: str, tag: str, k: int, elem_type: int, axis: int, rank: int) -> tuple:
    """Nodes padding f (with 1) and the second input (with 0) along ``axis`` to a multiple of k.

    Returns (nodes, f_padded, second_padded, T as a [1] int64 tensor)."""
    i64 = TensorProto.INT64
    nodes = [
        constant(f"{tag}_k", i64, [1], [k]),
        constant(f"{tag}_one", elem_type, [], [1.0]),
        constant(f"{tag}_zero", elem_type, [], [0.0]),
        constant(f"{tag}_zeros_before", i64, [rank + axis], [0] * (rank + axis)),
        constant(f"{tag}_zeros_after", i64, [rank - axis - 1], [0] * (rank - axis - 1)),
        helper.make_node("Shape", [f], [f"{tag}_T"], name=f"{tag}_shape_t", start=axis, end=axis + 1),
        helper.make_node("Mod", [f"{tag}_T", f"{tag}_k"], [f"{tag}_tmod"], name=f"{tag}_mod1"),
        helper.make_node("Sub", [f"{tag}_k", f"{tag}_tmod"], [f"{tag}_kmt"], name=f"{tag}_sub_pad"),
        helper.make_node("Mod", [f"{tag}_kmt", f"{tag}_k"], [f"{tag}_npad"], name=f"{tag}_mod2"),
        helper.make_node("Concat", [f"{tag}_zeros_before", f"{tag}_npad", f"{tag}_zeros_after"], [f"{tag}_pads"],
                         name=f"{tag}_pads", axis=0),
        helper.make_node("Pad", [f, f"{tag}_pads", f"{tag}_one"], [f"{tag}_fp"], name=f"{tag}_pad_f"),
        helper.make_node("Pad", [second, f"{tag}_pads", f"{tag}_zero"], [f"{tag}_sp"], name=f"{tag}_pad_s"),
    ]
    return nodes, f"{tag}_fp", f"{tag}_sp", f"{tag}_T"


def _unrolled_body(name: str, k: int, elem_type: int, fused: bool) -> onnx.GraphProto:
    """State c [1, B, H]; scan inputs F, Z (or X) [K, B, H]; K chained steps; scan output [K, B, H]."""
    nodes = []
    inits = [helper.make_tensor("u_split", TensorProto.INT64, [k], [1] * k)]
    second = "X"
    if fused:
        second = "Z"
        inits.append(helper.make_tensor("u_one", elem_type, [], [1.0]))
        nodes += [helper.make_node("Sub", ["u_one", "F"], ["u_omf"]), helper.make_node("Mul", ["u_omf", "Z"], ["X"])]
    nodes += [
        helper.make_node("Split", ["F", "u_split"], [f"u_f{i}" for i in range(k)], axis=0),
        helper.make_node("Split", ["X", "u_split"], [f"u_x{i}" for i in range(k)], axis=0),
    ]
    prev = "c_in"
    for i in range(k):
        nodes += [helper.make_node("Mul", [f"u_f{i}", prev], [f"u_fc{i}"]), helper.make_node("Add", [f"u_fc{i}", f"u_x{i}"], [f"u_c{i}"])]
        prev = f"u_c{i}"
    nodes += [
        helper.make_node("Identity", [prev], ["c_out"]),
        helper.make_node("Concat", [f"u_c{i}" for i in range(k)], ["c_scan"], axis=0),
    ]
    vi = helper.make_tensor_value_info
    return helper.make_graph(
        nodes, name, [vi("c_in", elem_type, None), vi("F", elem_type, None), vi(second, elem_type, None)],
        [vi("c_out", elem_type, None), vi("c_scan", elem_type, None)], initializer=inits,
    )


def _unrolled_nodes(f: str, second: str, c0: str, c: str, tag: str, k: int, elem_type: int,
                    fused: bool) -> List[onnx.NodeProto]:
    i64 = TensorProto.INT64
    nodes = [
        helper.make_node("Transpose", [f], [f"{tag}_f_tm"], name=f"{tag}_tf", perm=[2, 0, 1]),
        helper.make_node("Transpose", [second], [f"{tag}_s_tm"], name=f"{tag}_ts", perm=[2, 0, 1]),
    ]
    pad_nodes, fp, sp, t = _pad_time(f"{tag}_f_tm", f"{tag}_s_tm", tag, k, elem_type, axis=0, rank=3)
    nodes += pad_nodes
    nodes += [
        constant(f"{tag}_m1k", i64, [2], [-1, k]),
        constant(f"{tag}_m1", i64, [1], [-1]),
        constant(f"{tag}_zero_i", i64, [1], [0]),
        constant(f"{tag}_ax0", i64, [1], [0]),
        helper.make_node("Shape", [f"{tag}_f_tm"], [f"{tag}_bh"], name=f"{tag}_shape_bh", start=1),
        helper.make_node("Concat", [f"{tag}_m1k", f"{tag}_bh"], [f"{tag}_blk_shape"], name=f"{tag}_blk_shape", axis=0),
        helper.make_node("Concat", [f"{tag}_m1", f"{tag}_bh"], [f"{tag}_flat_shape"], name=f"{tag}_flat_shape", axis=0),
        helper.make_node("Reshape", [fp, f"{tag}_blk_shape"], [f"{tag}_f_blk"], name=f"{tag}_rf"),
        helper.make_node("Reshape", [sp, f"{tag}_blk_shape"], [f"{tag}_s_blk"], name=f"{tag}_rs"),
        helper.make_node("Unsqueeze", [c0, f"{tag}_ax0"], [f"{tag}_c0u"], name=f"{tag}_uc0"),
        helper.make_node(
            "Scan", [f"{tag}_c0u", f"{tag}_f_blk", f"{tag}_s_blk"], [f"{tag}_c_last", f"{tag}_c_blk"], name=tag,
            num_scan_inputs=2, body=_unrolled_body(f"{tag}_body", k, elem_type, fused),
        ),
        helper.make_node("Reshape", [f"{tag}_c_blk", f"{tag}_flat_shape"], [f"{tag}_c_pad"], name=f"{tag}_rc"),
        helper.make_node("Slice", [f"{tag}_c_pad", f"{tag}_zero_i", t, f"{tag}_ax0"], [f"{tag}_c_tm"], name=f"{tag}_slice"),
        helper.make_node("Transpose", [f"{tag}_c_tm"], [c], name=f"{tag}_tc", perm=[1, 2, 0]),
    ]
    return nodes


def unrolled_nodes(node: onnx.NodeProto, index: int, elem_type: int, graph: onnx.GraphProto,
                   k: int = 16) -> List[onnx.NodeProto]:
    f, x, c0 = node.input
    (c,) = node.output
    tag = f"fo_pool_{index}"
    second, fused = fused_input(graph, f, x, tag)
    return _unrolled_nodes(f, second, c0, c, tag, k, elem_type, fused)


LOWERINGS: Dict[str, Lowering] = {
    "scan_tbh": functools.partial(per_step_nodes, fuse=False),
    "scan_bht": scan_bht_nodes,
    "scan_tbh_fused": per_step_nodes,
    "scan_bht_fused": functools.partial(scan_bht_nodes, fuse=True),
    **{f"scan_tbh_unrolled{k}": functools.partial(unrolled_nodes, k=k) for k in UNROLL_FACTORS},
    **{f"blocked{k}": functools.partial(blocked_nodes, k=k) for k in BLOCK_SIZES},
    FORMULATION: hybrid_nodes,
}
FORMULATIONS = tuple(LOWERINGS)
