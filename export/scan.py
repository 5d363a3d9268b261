"""Replace ``rnaloc::FoPool`` placeholders with standard ONNX ``Scan`` nodes.

Why: the legacy exporter turns a scripted time loop into ONNX ``Loop`` + sequence ops,
~200x slower in ONNX Runtime than a ``Scan`` whose body is one multiply-add
(shared/notes/fo-pooling-onnx.md). The training code emits an opaque placeholder
``FoPool(f, x, c0) -> c`` (f, x, c: [B, H, T]; c0: [B, H]); this module swaps in the
recurrence ``c_t = f_t * c_{t-1} + x_t`` so the file needs no custom-op library.

Formulations (benchmarks/onnx_fo_pooling.py measures them):

* ``scan_bht`` - Scan directly over axis 2 of the channel-major tensors.
* ``scan_tbh`` - Transpose to time-major [T, B, H], Scan over axis 0, transpose back;
  each step reads a contiguous [B, H] slab.
* ``scan_tbh_fused`` / ``scan_bht_fused`` - as above, but the Scan reads f and z and
  forms ``x_t = (1 - f_t) * z_t`` inside the body (when the graph has that pattern), so
  the whole-tensor Sub/Mul before the Scan and the materialised x disappear.
"""

from __future__ import annotations

import logging
from typing import Iterable, List, Optional

import onnx
from onnx import TensorProto, helper

log = logging.getLogger(__name__)

PLACEHOLDER_DOMAIN = "rnaloc"
PLACEHOLDER_OP = "FoPool"
FORMULATIONS = ("scan_tbh", "scan_bht", "scan_tbh_fused", "scan_bht_fused")
DEFAULT_FORMULATION = "scan_tbh_fused"


def _body(name: str, elem_type: int, fused: bool = False) -> onnx.GraphProto:
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


def _find_z(graph: onnx.GraphProto, f: str, x: str) -> Optional[str]:
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


def _scan_nodes(
    node: onnx.NodeProto, index: int, formulation: str, elem_type: int, graph: onnx.GraphProto
) -> List[onnx.NodeProto]:
    f, x, c0 = node.input
    (c,) = node.output
    tag = f"fo_pool_{index}"
    fused = False
    if formulation.endswith("_fused"):
        formulation = formulation[: -len("_fused")]
        z = _find_z(graph, f, x)
        if z is not None:
            x, fused = z, True
        else:
            log.warning("fo-pooling input is not (1 - f) * z; %s falls back to %s", tag, formulation)
    body = _body(f"{tag}_body", elem_type, fused)
    if formulation == "scan_bht":
        return [
            helper.make_node(
                "Scan", [c0, f, x], [f"{tag}_c_last", c], name=tag, num_scan_inputs=2, body=body,
                scan_input_axes=[2, 2], scan_output_axes=[2],
            )
        ]
    if formulation == "scan_tbh":
        return [
            helper.make_node("Transpose", [f], [f"{tag}_f_tm"], name=f"{tag}_tf", perm=[2, 0, 1]),
            helper.make_node("Transpose", [x], [f"{tag}_x_tm"], name=f"{tag}_tx", perm=[2, 0, 1]),
            helper.make_node(
                "Scan", [c0, f"{tag}_f_tm", f"{tag}_x_tm"], [f"{tag}_c_last", f"{tag}_c_tm"], name=tag,
                num_scan_inputs=2, body=body,
            ),
            helper.make_node("Transpose", [f"{tag}_c_tm"], [c], name=f"{tag}_tc", perm=[1, 2, 0]),
        ]
    raise ValueError(f"unknown fo-pooling formulation {formulation!r}; expected one of {FORMULATIONS}")


def _elem_type(graph: onnx.GraphProto, name: str) -> int:
    for info in list(graph.value_info) + list(graph.output) + list(graph.input):
        if info.name == name and info.type.tensor_type.elem_type:
            return info.type.tensor_type.elem_type
    return TensorProto.FLOAT


def count_placeholders(model: onnx.ModelProto) -> int:
    return sum(1 for n in model.graph.node if n.domain == PLACEHOLDER_DOMAIN and n.op_type == PLACEHOLDER_OP)


def replace_fo_pool(
    model: onnx.ModelProto, formulation: str = DEFAULT_FORMULATION, *, elem_type: Optional[int] = None
) -> onnx.ModelProto:
    """In place: every FoPool placeholder becomes a Scan; the custom opset import is dropped.

    ``elem_type`` is the tensor type of f, x and c (float or float16); looked up when None.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f"unknown fo-pooling formulation {formulation!r}; expected one of {FORMULATIONS}")
    graph = model.graph
    new_nodes: List[onnx.NodeProto] = []
    replaced = 0
    for node in graph.node:
        if node.domain == PLACEHOLDER_DOMAIN and node.op_type == PLACEHOLDER_OP:
            new_nodes.extend(_scan_nodes(node, replaced, formulation, elem_type or _elem_type(graph, node.output[0]), graph))
            replaced += 1
        else:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    _drop_opsets(model, [PLACEHOLDER_DOMAIN])
    log.debug("replaced %d FoPool placeholder(s) with %s", replaced, formulation)
    return model


def _drop_opsets(model: onnx.ModelProto, domains: Iterable[str]) -> None:
    keep = [op for op in model.opset_import if op.domain not in set(domains)]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def non_default_domains(model: onnx.ModelProto) -> List[str]:
    """Domains of nodes (including subgraph bodies) outside the default ONNX domain."""
    found: List[str] = []

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            if node.domain not in ("", "ai.onnx"):
                found.append(f"{node.domain}::{node.op_type}")
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(model.graph)
    return found
