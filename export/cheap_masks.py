"""The padding masks of QRNN gates and max-pooling as Max / Min instead of Where: an export rewrite.

Why: ONNX Runtime's CPU ``Where`` is slow, and slowest when its condition broadcasts (the mask is
[batch, 1, steps], the gates [batch, channels, steps]); short records make it worse (one inner
span per row and channel, each only ``steps`` long). Each QRNN layer masks its forget gate with
one ``Where(mask, sigmoid(f), 1)`` and the pooling its max with ``Where(not mask, -inf, h)``: on
300-nt records those took ~8 % of the default model's time. Measured on the bundled default's
int8 twin (docs/PERFORMANCE.md, "Short records"): ~6 % less model time on 300-nt pieces and on
mRNA-length records.

The rewrites, and why the numbers stay:

* ``Where(mask, s, ConstantOfShape(1))`` with ``s = Sigmoid(..)`` becomes ``Max(s, pad)``,
  ``pad = Cast(Not(mask))`` (1 at padded steps, 0 at real ones; one per mask). At a real step
  ``max(s, 0) = s`` exactly (a sigmoid is never below 0). At a padded step ``max(s, 1) = 1``,
  except where ONNX Runtime's fp32 sigmoid returns 1 + 1 ulp (1.0000001, for logits near 17.5-18):
  there it stays 1.0000001. A padded step feeds no probability (pooling reads real steps only,
  convolutions are causal), so probabilities are bit-identical; only the carried state of a
  *padded* row may then differ by an ulp, and a padded row is a record's last call, whose states
  are not carried on (docs/DESIGN.md: only full chunks continue).
* ``Where(Cast(Not(mask)), -inf, h)`` becomes ``Min(h, bound)``, ``bound = Where(mask, +inf,
  -inf)`` ([batch, 1, steps], small): ``min(h, +inf) = h`` and ``min(h, -inf) = -inf`` for every
  finite h, so it is exact.

Anything else (another constant, a gate that is no sigmoid) is left as it is.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper

log = logging.getLogger(__name__)

PREFIX = "cheap_mask"


def _scalar(node: Optional[onnx.NodeProto], proto: onnx.ModelProto) -> Optional[onnx.TensorProto]:
    """The single-element tensor a Constant node or a ConstantOfShape's value holds, else None."""
    if node is None or node.op_type not in ("Constant", "ConstantOfShape"):
        return None
    for attr in node.attribute:
        if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR and int(np.prod(attr.t.dims or [1])) == 1:
            return attr.t
    return None


def rewrite_masks(proto: onnx.ModelProto) -> int:
    """In place, on the main graph: the two ``Where`` patterns of the module doc as Max / Min.

    Returns how many ``Where`` nodes were replaced. Nodes left unused (the ones tensors, the
    negated masks) are for :func:`~.graph_clean.remove_dead_nodes` to drop.
    """
    graph = proto.graph
    producer: Dict[str, onnx.NodeProto] = {out: node for node in graph.node for out in node.output}
    made: Dict[tuple, str] = {}  # (kind, mask, element type) -> the tensor made for it
    nodes: List[onnx.NodeProto] = []
    replaced = 0

    def derived(kind: str, mask: str, elem_type: int) -> str:
        """The pad (1 at padded steps) or bound (+inf / -inf) tensor of ``mask``, made once."""
        key = (kind, mask, elem_type)
        if key not in made:
            name = f"{PREFIX}_{len(made)}_{kind}"
            if kind == "pad":
                nodes.append(helper.make_node("Not", [mask], [name + "_not"], name=name + "_not"))
                nodes.append(helper.make_node("Cast", [name + "_not"], [name], to=elem_type, name=name))
            else:
                dtype = helper.tensor_dtype_to_np_dtype(elem_type)
                # Constant nodes, not initializers: from_onnx reads every initializer as a weight
                for suffix, value in (("_pinf", np.inf), ("_ninf", -np.inf)):
                    nodes.append(helper.make_node("Constant", [], [name + suffix], name=name + suffix,
                                                  value=numpy_helper.from_array(np.array(value, dtype=dtype))))
                nodes.append(helper.make_node("Where", [mask, name + "_pinf", name + "_ninf"], [name], name=name))
            made[key] = name
        return made[key]

    for node in graph.node:
        if node.op_type == "Where" and len(node.input) == 3:
            cond, a, b = node.input
            one = _scalar(producer.get(b), proto)
            gate = producer.get(a)
            if (one is not None and producer[b].op_type == "ConstantOfShape" and gate is not None
                    and gate.op_type == "Sigmoid" and float(numpy_helper.to_array(one).ravel()[0]) == 1.0):
                pad = derived("pad", cond, one.data_type)
                nodes.append(helper.make_node("Max", [a, pad], list(node.output), name=node.name + "_max"))
                replaced += 1
                continue
            low = _scalar(producer.get(a), proto)
            cast = producer.get(cond)
            negation = producer.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else cast
            if (low is not None and producer[a].op_type == "Constant" and np.isneginf(numpy_helper.to_array(low)).all()
                    and negation is not None and negation.op_type == "Not"):
                bound = derived("bound", negation.input[0], low.data_type)
                nodes.append(helper.make_node("Min", [b, bound], list(node.output), name=node.name + "_min"))
                replaced += 1
                continue
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    if replaced:
        log.debug("%d padding mask(s) as Max/Min", replaced)
    return replaced


def rewrite_file(path: Path) -> int:
    """Rewrite one ONNX file in place (atomically), metadata unchanged; returns the count."""
    from rnaloc_infer.output.files import atomic_path

    from .graph_clean import remove_dead_nodes

    proto = onnx.load(str(path))
    count = rewrite_masks(proto)
    if count:
        remove_dead_nodes(proto)
        onnx.checker.check_model(proto)
        with atomic_path(path) as tmp:
            onnx.save(proto, str(tmp))
    return count


def rewrite_bundle(fp32: Path) -> Dict[str, int]:
    """Rewrite an fp32 model file and its twins (``.fp16.onnx``, ``.int8.onnx``) in place: the
    int8 twin's record of the fp32 file's sha256 follows, the numpy ISM companion is rewritten
    (its check against ONNX Runtime included). For files exported before this rewrite existed;
    new exports get it from :func:`~.onnx_export.build_onnx`."""
    from rnaloc_infer.bundled import twin_path
    from rnaloc_infer.explain.numpy_model import companion_path
    from rnaloc_infer.modelfile.digest import file_sha256
    from rnaloc_infer.modelfile.metadata import FP32_SHA256_KEY, read_metadata

    from .ism_weights import write_companion
    from .metadata import rewrite_onnx_metadata

    counts = {fp32.name: rewrite_file(fp32)}
    for precision in ("fp16", "int8"):
        twin = twin_path(fp32, precision)
        if twin.is_file():
            counts[twin.name] = rewrite_file(twin)
            if FP32_SHA256_KEY in read_metadata(twin):
                rewrite_onnx_metadata(twin, {FP32_SHA256_KEY: file_sha256(fp32)})
    if companion_path(fp32).is_file():
        write_companion(fp32)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="fp32 .onnx files; their twins and ISM companions follow")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in args.models:
        print(path, rewrite_bundle(path))


if __name__ == "__main__":
    main()
