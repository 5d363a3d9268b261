"""Dead-node removal for exported graphs.

Why: the legacy exporter records the scripted fo-pooling loop that runs inside the autograd
function's forward as an ONNX ``Loop`` *next to* the ``rnaloc::FoPool`` placeholder; its
in-place writes look side-effecting, so torch's dead-code pass keeps it although nothing
reads its output. Left in, it would cost a second (slow) recurrence in every call.
"""

from __future__ import annotations

import logging
from typing import Set

import onnx

log = logging.getLogger(__name__)


def _subgraph_inputs(node: onnx.NodeProto) -> Set[str]:
    """Outer-scope names a node's subgraphs read (conservatively: every input they mention)."""
    names: Set[str] = set()

    def walk(graph: onnx.GraphProto) -> None:
        for inner in graph.node:
            names.update(inner.input)
            for attr in inner.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            walk(attr.g)
        for sub in attr.graphs:
            walk(sub)
    return names


def remove_dead_nodes(model: onnx.ModelProto) -> int:
    """In place: drop nodes (and unused initializers / value_info) that no graph output depends on."""
    graph = model.graph
    needed: Set[str] = {o.name for o in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(out in needed for out in node.output if out):
            keep.append(node)
            needed.update(i for i in node.input if i)
            needed.update(_subgraph_inputs(node))
    keep.reverse()
    removed = len(graph.node) - len(keep)
    del graph.node[:]
    graph.node.extend(keep)
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    if removed:
        log.debug("removed %d dead node(s)", removed)
    return removed
