"""Write the numpy companion ``<model>.ism.npz`` of an exported QRNN model (fast exact ISM).

Why from the .onnx and not from the torch model: the shipped models exist as .onnx files,
and reading the graph that the runtime scores with guarantees the companion holds *those*
weights. Named initializers give the layers, the ONNX-ML tree node's attributes the forest's
trees; the few constants the exporter folds (blend rows, regression offset and feature
weights, feature standardisation) are recognised by the node that consumes them, in graph
order, outside the class-mixing map's scope (``/model/mixings.0/``: its MatMul and Add read
the named ``model.mixings.0.matrix`` and ``.bias``, applied last). Nothing is trusted blindly: the numpy forward
pass must reproduce ONNX Runtime's probabilities on test records (incl. N and a partial
last step) within ``MAX_DIFF``, or no companion is written.

    python -m rnaloc_infer.export.ism_weights rnaloc_infer/models/default.onnx rnaloc_infer/models/fast.onnx
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnx
from onnx import numpy_helper

from rnaloc_infer.features.registry import CODING, record_feature_matrix
from rnaloc_infer.explain.numpy_model import (ClassMixing, KmerRegression, NumpyForest, NumpyModel, QrnnNetwork,
                                              save_companion)
from rnaloc_infer.modelfile.metadata import read_metadata, require_fp32
from rnaloc_infer.session import ModelSession
from rnaloc_infer.training.model_kinds import kinds_with, supports

from .pad_channel import strip_pad_channel
from .tree_node import forest_from_graph

log = logging.getLogger(__name__)

MAX_DIFF = 1e-5  # probability; float32 rounding between numpy and ONNX Runtime is ~1e-7
MIXING_SCOPE = "/model/mixings."  # the class-mixing map's nodes: none of the folded constants are its
MIXING = ("model.mixings.0.matrix", "model.mixings.0.bias")


def unsupported(config: dict) -> Optional[str]:
    """Why a network's hparams are outside what the numpy engine implements, or None
    (its kinds: those of training/model_kinds.py with ``numpy_ism``)."""
    if not supports(config.get("kind"), "numpy_ism"):
        return f"kind {config.get('kind')!r} (only {', '.join(kinds_with('numpy_ism'))})"
    if config.get("kmer_k", 0) or config.get("bag_k", 0):
        return "k-mer encoder or k-mer bag"
    if config.get("layers") not in (1, 2) or config.get("window") != 2:
        return "QRNN layers other than 1-2 with window 2"
    return None


def _network(init: Dict[str, np.ndarray], prefix: str, config: dict, consts: dict, scope: str, blend: np.ndarray) -> QrnnNetwork:
    motif = config.get("front_kernel", 0) > 0
    front = init[prefix + ("motif.conv." if motif else "front.")+ "weight"]
    front_b = init[prefix + ("motif.conv." if motif else "front.") + "bias"]
    layers = []
    for j in range(config["layers"]):
        w = init[f"{prefix}body.{j}.conv.conv.weight"]
        layers.append((np.ascontiguousarray(w[:, :, 0].T), np.ascontiguousarray(w[:, :, 1].T), init[f"{prefix}body.{j}.conv.conv.bias"]))
    head = (init[prefix + "head.0.weight"].T.copy(), init[prefix + "head.0.bias"], init[prefix + "head.3.weight"].T.copy(),
            init[prefix + "head.3.bias"])
    mean = scale = None
    if config.get("head_features"):
        mean, scale = consts["Sub"][scope], consts["Div"][scope]
    return QrnnNetwork(np.ascontiguousarray(front.transpose(2, 1, 0)), front_b, motif, layers, head, mean, scale, blend)


def _folded_constants(proto: onnx.ModelProto) -> dict:
    """Unnamed initializers by consuming op, in graph order; Sub/Div keyed by the node's scope."""
    init = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer if i.name.startswith("onnx::")}
    for node in proto.graph.node:  # equal constants are stored once, the others named through Identity
        if node.op_type == "Identity" and node.input[0] in init:
            init[node.output[0]] = init[node.input[0]]
    found: dict = {"Mul": [], "Add": [], "MatMul": [], "Sub": {}, "Div": {}}
    for node in proto.graph.node:
        if node.op_type == "Identity" or node.name.startswith(MIXING_SCOPE):
            continue
        for name in node.input:
            if name not in init:
                continue
            scope = node.name.rsplit("/", 1)[0] + "/"
            if node.op_type in ("Sub", "Div"):
                found[node.op_type][scope] = init[name]
            elif node.op_type in found:
                found[node.op_type].append((scope, init[name]))
    return found


def _forest(proto: onnx.ModelProto, config: dict) -> Optional[NumpyForest]:
    """The forest member (training/forest.py), or None: its trees are the attributes of the
    graph's ONNX-ML ``TreeEnsembleRegressor`` node; it reads all of the graph's feature set."""
    shape = config.get("forest")
    if not shape:
        return None
    forest = NumpyForest([int(k) for k in shape["ks"]], forest_from_graph(proto.graph, int(shape["depth"])),
                         config.get("features") or CODING)
    forest.trees.check(forest.columns)
    if len(forest.trees.value) != int(shape["nodes"]) or len(forest.trees.roots) != int(shape["trees"]):
        raise ValueError("the forest's trees differ from its hparams")
    return forest


def _mixing(proto: onnx.ModelProto, config: dict, n_classes: int) -> Optional[ClassMixing]:
    """The class-mixing map (training/ensemble_model.py ``ClassMixing``), or None: its two named
    initializers, read by the graph as ``logits @ matrix + bias``; hparams and graph must agree."""
    named = {i.name: i for i in proto.graph.initializer if i.name in MIXING}
    for node in proto.graph.node:  # an equal tensor stored once is named through Identity
        if node.op_type == "Identity" and node.output[0] in MIXING:
            source = next((i for i in proto.graph.initializer if i.name == node.input[0]), None)
            if source is not None:
                named[node.output[0]] = source
    declared = bool(config.get("class_mixing"))
    if not declared:
        if named:
            raise ValueError("the graph has a class-mixing map its hparams do not declare")
        return None
    if set(named) != set(MIXING):
        raise ValueError("the hparams declare a class-mixing map the graph lacks")
    reads = [node for node in proto.graph.node if node.op_type == "MatMul" and list(node.input)[1:] == [MIXING[0]]]
    if len(reads) != 1:
        raise ValueError("the class-mixing matrix is not read as logits @ matrix")
    matrix, bias = (numpy_helper.to_array(named[name]).astype(np.float32) for name in MIXING)
    if matrix.shape != (n_classes, n_classes) or bias.shape != (n_classes,):
        raise ValueError(f"class mixing of shape {matrix.shape} + {bias.shape} for {n_classes} classes")
    return ClassMixing(matrix, bias)


def _is_fused(init: Dict[str, np.ndarray], config: dict) -> bool:
    """An ensemble exported with its networks fused (training/fused_ensemble.py): one network
    with as many motif filters as all networks together."""
    motif = init.get("model.network.motif.conv.weight")
    return bool(config.get("members")) and motif is not None and motif.shape[0] != config["hidden"]


def _fused_networks(init: Dict[str, np.ndarray], configs: List[dict], consts: dict, blend: np.ndarray) -> List[QrnnNetwork]:
    """The fused network split back into the ensemble's networks (same numbers): network i's
    filters, its group of each grouped convolution, its rows (and pooled-feature columns) of
    the head; the head's last layer already carries the blend, so its bias goes to network 0."""
    k, hidden = len(configs), configs[0]["hidden"]
    width = k * hidden
    first = init["model.network.head.0.weight"]
    n_features = first.shape[1] - (2 * width + 1)
    networks = []
    for i, config in enumerate(configs):
        rows, out = slice(i * hidden, (i + 1) * hidden), f"fused{i}."
        part = {out + "motif.conv.weight": init["model.network.motif.conv.weight"][rows],
                out + "motif.conv.bias": init["model.network.motif.conv.bias"][rows]}
        for j in range(config["layers"]):
            gates = slice(3 * i * hidden, 3 * (i + 1) * hidden)
            for name in ("weight", "bias"):
                part[f"{out}body.{j}.conv.conv.{name}"] = init[f"model.network.body.{j}.conv.conv.{name}"][gates]
        columns = [np.arange(i * hidden, (i + 1) * hidden), np.arange(width + i * hidden, width + (i + 1) * hidden),
                   np.array([2 * width])]
        if config.get("head_features"):
            columns.append(np.arange(2 * width + 1, 2 * width + 1 + n_features))
        part[out + "head.0.weight"] = first[rows][:, np.concatenate(columns)]
        part[out + "head.0.bias"] = init["model.network.head.0.bias"][rows]
        part[out + "head.3.weight"] = init["model.network.head.3.weight"][:, rows]
        last_bias = init["model.network.head.3.bias"]
        part[out + "head.3.bias"] = last_bias if i == 0 else np.zeros_like(last_bias)
        networks.append(_network(part, out, config, consts, "/model/network/", blend))
    return networks


def from_onnx(path: Path) -> NumpyModel:
    """The model's weights as a :class:`NumpyModel`; ValueError if the numpy engine does not support it."""
    proto = onnx.load(str(path))
    meta = read_metadata(proto)
    require_fp32(meta, path, "the numpy engine")
    config = json.loads(meta["rnaloc.hparams"])
    init = strip_pad_channel({i.name: numpy_helper.to_array(i) for i in proto.graph.initializer})
    consts = _folded_constants(proto)
    members: List[dict] = config.get("members", [])
    ks: List[int] = config.get("linear_ks", [])
    for part in [config] + members:
        problem = unsupported(part)
        if problem:
            raise ValueError(problem)
    n_classes = len(config["classes"])
    if not (members or ks or config.get("forest")):  # a plain network
        net = _network(init, "model.", config, consts, "/model/", np.ones(n_classes, np.float32))
        return NumpyModel([net], None, np.zeros(n_classes, np.float32), int(config["stride"]),
                          mixing=_mixing(proto, config, n_classes))
    top = [a for scope, a in consts["Mul"] if scope == "/model/"]  # blend rows 0, 1, 3, 4, ...
    bias = [a for scope, a in consts["Add"] if scope == "/model/" and a.shape == (n_classes,)]
    fused = _is_fused(init, config)
    if len(top) != (2 if fused else 2 + len(members)) or len(bias) != 1:
        raise ValueError("unexpected blend constants in the graph")
    legacy = "model.motif.conv.weight" in init or "model.front.weight" in init
    if fused:
        networks = _fused_networks(init, [config] + members, consts, top[0])
    else:
        first = "model." if legacy else "model.network."
        networks = [_network(init, first, config, consts, "/model/" if legacy else "/model/network/", top[0])]
        for i, member in enumerate(members):
            networks.append(_network(init, f"model.members.{i}.", member, consts, f"/model/members.{i}/", top[2 + i]))
    table = "model.linear.{}.table" if legacy else "model.regression.kmers.{}.table"
    offsets = [a for _, a in consts["Add"] if a.shape == (1, n_classes)]
    weights = [a for _, a in consts["MatMul"]]
    regression = None
    if ks:
        regression = KmerRegression(list(ks), [init[table.format(j)] for j in range(len(ks))], offsets[0].reshape(-1),
                                    weights[0].T.copy() if config.get("features") else None, top[1])
    return NumpyModel(networks, regression, bias[0], int(config["stride"]), _forest(proto, config),
                      _mixing(proto, config, n_classes))


def check_against_session(model: NumpyModel, path: Path, lengths=(1, 7, 150, 613), seed: int = 0) -> float:
    """Largest |numpy - ONNX Runtime| probability over random records (one with an N), each fed
    the features of the session's set."""
    session = ModelSession(path, device="cpu", intra_op_threads=1, prefer_int8=False)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n in lengths:
        codes = rng.integers(0, 4, n).astype(np.uint8)
        if n > 20:
            codes[n // 3] = 4
            codes[n // 2 : n // 2 + 3] = (0, 3, 2)  # an ATG, so some records have an ORF
        needed = model.needs_features or session.info.features
        features = record_feature_matrix([codes], session.info.features or CODING) if needed else None
        expected, _ = session.run(codes[None, :], np.array([n], dtype=np.int64), session.zero_states(1), features)
        got = model.probs(codes, None if features is None else features[0])
        worst = max(worst, float(np.abs(got - expected[0]).max()))
    return worst


def write_companion(path: Path) -> Optional[Path]:
    """Write ``<model>.ism.npz`` beside a supported fp32 model; None (logged) for other models."""
    path = Path(path)
    try:
        model = from_onnx(path)
    except (ValueError, KeyError, IndexError) as exc:
        log.info("no numpy ISM companion for %s: %s", path.name, exc)
        return None
    worst = check_against_session(model, path)
    if worst > MAX_DIFF:
        raise RuntimeError(f"numpy forward differs from ONNX Runtime by {worst:.2e} on {path.name}; companion not written")
    written = save_companion(model, path)
    log.info("wrote %s (numpy forward within %.1e of ONNX Runtime)", written, worst)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in args.models:
        write_companion(path)


if __name__ == "__main__":
    main()
