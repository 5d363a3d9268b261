"""Read the forest member's trees back from an exported graph (onnx + numpy, no torch).

Why a module of its own: both :mod:`.from_onnx` (which needs torch) and :mod:`.ism_weights`
(which does not) read the trees, and they live in one node's attributes, not in
initializers (``rnaloc_infer.trees.onnx_attributes`` writes them).
"""

from __future__ import annotations

import onnx

from rnaloc_infer.trees import TREE_DOMAIN, TREE_OP, TreeEnsemble, from_onnx_attributes


def forest_from_graph(graph: onnx.GraphProto, depth: int) -> TreeEnsemble:
    """The forest member's trees from its ``TreeEnsembleRegressor`` node (rnaloc_infer.trees);
    ValueError when the graph has none, several, or one this package did not write."""
    nodes = [n for n in graph.node if n.op_type == TREE_OP and n.domain == TREE_DOMAIN]
    if len(nodes) != 1:
        raise ValueError(f"expected one {TREE_DOMAIN} {TREE_OP} node (the forest), found {len(nodes)}")
    attrs = {}
    for attribute in nodes[0].attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        attrs[attribute.name] = value
    return from_onnx_attributes(attrs, depth)
