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
"""

from __future__ import annotations

import logging
from typing import Iterable, List

import onnx
from onnx import TensorProto, helper

log = logging.getLogger(__name__)

PLACEHOLDER_DOMAIN = "rnaloc"
PLACEHOLDER_OP = "FoPool"
FORMULATIONS = ("scan_tbh", "scan_bht")
DEFAULT_FORMULATION = "scan_tbh"


def _body(name: str, elem_type: int) -> onnx.GraphProto:
    """Scan body: state c_in, scan inputs f_t and x_t; returns (c_out, c_scan)."""
    nodes = [
        helper.make_node("Mul", ["f_t", "c_in"], ["fc"]),
        helper.make_node("Add", ["fc", "x_t"], ["c_out"]),
        helper.make_node("Identity", ["c_out"], ["c_scan"]),
    ]
    vi = helper.make_tensor_value_info
    return helper.make_graph(
        nodes,
        name,
        [vi("c_in", elem_type, None), vi("f_t", elem_type, None), vi("x_t", elem_type, None)],
        [vi("c_out", elem_type, None), vi("c_scan", elem_type, None)],
    )


def _scan_nodes(node: onnx.NodeProto, index: int, formulation: str, elem_type: int) -> List[onnx.NodeProto]:
    f, x, c0 = node.input
    (c,) = node.output
    tag = f"fo_pool_{index}"
    body = _body(f"{tag}_body", elem_type)
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


def replace_fo_pool(model: onnx.ModelProto, formulation: str = DEFAULT_FORMULATION) -> onnx.ModelProto:
    """In place: every FoPool placeholder becomes a Scan; the custom opset import is dropped."""
    graph = model.graph
    new_nodes: List[onnx.NodeProto] = []
    replaced = 0
    for node in graph.node:
        if node.domain == PLACEHOLDER_DOMAIN and node.op_type == PLACEHOLDER_OP:
            new_nodes.extend(_scan_nodes(node, replaced, formulation, _elem_type(graph, node.output[0])))
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
