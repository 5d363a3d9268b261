"""Rebuild the PyTorch model an exported ONNX file came from (a development tool).

Why: the bundled models' checkpoints are not kept with the package, but their files keep
everything needed: the ``rnaloc.hparams`` metadata has the whole config and the initializers
keep the torch names (``model.<state-dict key>``). A few small tensors were constant-folded
by the exporter into ``onnx::*`` initializers; they are recognised by the node that reads
them: the regression's offset (``Add``, shape [1, C]) and feature weights (``MatMul``,
transposed), a network's feature mean (``Sub``) and scale (``Div``), identified by the node's
name scope, and the blend rows (``Mul``: the network, a member or the regression, by what
the other operand is computed from; ``Add``, shape [C]: the bias row). The class-mixing map
(``model.mixings.0.matrix`` and ``.bias``, read last) is named, so it comes with the others;
no folded constant is read in its scope. Files written before
the ensemble had its own modules (the regression at ``linear.*``) are read too
(:func:`..training.ensemble_model.upgrade_state_dict`).

Used to re-export the bundled default in another graph layout without its checkpoint
(fused members, :mod:`..training.fused_ensemble`); tests round-trip random models.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from rnaloc_infer.bundled import twin_path
from rnaloc_infer.modelfile.metadata import PRECISION_KEY, read_metadata, require_fp32
from rnaloc_infer.training.ensemble_model import EnsembleConfig, EnsembleModel, upgrade_state_dict
from rnaloc_infer.training.fused_ensemble import FusedEnsembleModel
from rnaloc_infer.training.models import LocalizationModel, ModelConfig, StreamingModel
from .ism_weights import MIXING_SCOPE  # the class-mixing map's nodes (named initializers only)
from .pad_channel import strip_pad_channel
from .tree_node import forest_from_graph

PREFIX = "model."
_SCOPE = re.compile(r"^/model/(?:network/)?(members\.\d+/)?")
_HEAD_OUTPUT = re.compile(r"^model\.(?:network\.)?(members\.(\d+)\.)?head\.3\.weight$")


def model_from_onnx(path: str | Path) -> StreamingModel:
    """The network or ensemble (fused or not, as the file is) with the file's fp32 weights, eval mode."""
    proto = onnx.load(str(path))
    meta = read_metadata(proto)
    require_fp32(meta, path, "rebuilding the network")
    hparams = json.loads(meta["rnaloc.hparams"])
    named = {name[len(PREFIX):]: torch.from_numpy(value.copy())
             for name, value in strip_pad_channel(_constants(proto.graph)).items() if name.startswith(PREFIX)}
    if EnsembleConfig.describes(hparams):
        config = EnsembleConfig.from_dict(hparams)
        state = upgrade_state_dict(named)
        state.update(_folded_keys(proto.graph))
        motif = state.get("network.motif.conv.weight")  # fused: k times as many filters as one network's
        fused = motif is not None and motif.size(0) != config.network.hidden
        mixing = sorted(key for key in state if key.startswith("mixings."))
        if mixing and not config.class_mixing:
            raise ValueError(f"{path}: the graph has a class-mixing map ({', '.join(mixing)}) its hparams do not declare")
        model: StreamingModel = (FusedEnsembleModel if fused else EnsembleModel)(config)
        if config.forest:  # its trees are the attributes of one ONNX-ML node, not initializers
            trees = forest_from_graph(proto.graph, int(config.forest["depth"]))
            state.update({f"forests.0.{name}": torch.from_numpy(np.asarray(value)) for name, value in trees.to_arrays().items()
                          if name != "depth"})
    else:
        state = dict(named)
        state.update({key[len("network."):]: value for key, value in _folded_keys(proto.graph).items()})
        model = LocalizationModel(ModelConfig.from_dict(hparams))
    missing = set(model.state_dict()) - set(state)
    if missing:
        raise ValueError(f"{path}: cannot rebuild {sorted(missing)} from the graph")
    model.load_state_dict(state)
    return model.eval()


def _constants(graph: onnx.GraphProto) -> Dict[str, np.ndarray]:
    """Initializers by name, plus the outputs of ``Identity`` nodes reading one (the exporter
    keeps one copy of equal tensors and names the others through ``Identity``)."""
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in values:
            values[node.output[0]] = values[node.input[0]]
    return values


def _folded_keys(graph: onnx.GraphProto) -> Dict[str, torch.Tensor]:
    """State-dict entries (ensemble layout) of the constant-folded ``onnx::*`` initializers (module docstring)."""
    values = {name: value for name, value in _constants(graph).items() if not name.startswith(PREFIX)}
    folded = [(node, i, values[name]) for node in graph.node if node.op_type != "Identity"
              for i, name in enumerate(node.input) if name in values]
    producers = {o: n for n in graph.node for o in n.output}
    out: Dict[str, torch.Tensor] = {}
    blend_rows: Dict[int, np.ndarray] = {}
    for node, index, value in folded:
        if node.name.startswith(MIXING_SCOPE):
            raise ValueError(f"unrecognised folded constant read by the class-mixing map's {node.op_type} node {node.name!r}")
        scope_match = _SCOPE.match(node.name)
        scope = "network." if scope_match is None or not scope_match.group(1) else scope_match.group(1).replace("/", ".")
        tensor = torch.from_numpy(value.copy())
        if node.op_type == "MatMul":
            out["regression.feature_weights"] = tensor.t().contiguous()
        elif node.op_type == "Sub":
            out[scope + "feature_mean"] = tensor
        elif node.op_type == "Div":
            out[scope + "feature_scale"] = tensor
        elif node.op_type == "Add" and value.ndim == 2:
            out["regression.offset"] = tensor.reshape(-1)
        elif node.op_type == "Add":
            blend_rows[2] = value
        elif node.op_type == "Mul":
            other = node.input[1 - index]
            blend_rows[_blend_row(other, producers)] = value
        else:
            raise ValueError(f"unrecognised folded constant read by {node.op_type} node {node.name!r}")
    if blend_rows:
        out["blend"] = torch.from_numpy(np.stack([blend_rows[i] for i in range(len(blend_rows))]).astype(np.float32))
    return out


def _blend_row(name: str, producers: Dict[str, onnx.NodeProto]) -> int:
    """Which blend row multiplies ``name``: 0 a network head's logits, 3 + i member i's, 1 otherwise (regression)."""
    node: Optional[onnx.NodeProto] = producers.get(name)
    while node is not None and node.op_type in ("Cast", "Identity"):
        node = producers.get(node.input[0])
    if node is not None and node.op_type == "Gemm":
        match = _HEAD_OUTPUT.match(node.input[1])
        if match:
            return 0 if match.group(2) is None else 3 + int(match.group(2))
    return 1


def reexport(source: str | Path, out: str | Path, *, fuse: bool = True, fp16: bool = True) -> List[Path]:
    """Re-export the fp32 file ``source`` from its own contents as ``out`` (and, with ``fp16``,
    its half-precision twin ``out`` with ``.fp16.onnx``), every ``rnaloc.*`` metadata entry
    copied from ``source`` (only ``rnaloc.precision`` differs in the twin), as
    ``rnaloc-train release`` would have written them from the checkpoint, and explain's numpy
    companion ``.ism.npz`` where the model has one; returns the paths."""
    from .ism_weights import write_companion
    from .metadata import rewrite_onnx_metadata
    from .onnx_export import export_onnx

    source, out = Path(source), Path(out)
    model = model_from_onnx(source)
    metadata = {key: value for key, value in read_metadata(source).items() if key.startswith("rnaloc.")}
    written = [export_onnx(model, out, fuse=fuse)]
    if fp16:
        written.append(export_onnx(model, twin_path(out, "fp16"), precision="fp16", fuse=fuse))
    for path, precision in zip(written, ("fp32", "fp16")):
        rewrite_onnx_metadata(path, {**metadata, PRECISION_KEY: precision})
    companion = write_companion(written[0])  # after the metadata: it carries the final file's digest
    return written + ([companion] if companion is not None else [])


def write_member_checkpoints(path: str | Path, out_dir: str | Path) -> List[Path]:
    """Each network of the unfused ensemble file ``path`` as a checkpoint ``member<i>.pt`` in
    ``out_dir`` (first network, then the members), so ``rnaloc-train ensemble`` can blend the
    bundled default's networks anew (for instance with a forest) when their training
    checkpoints are not at hand."""
    from rnaloc_infer.training.checkpoint import save_checkpoint

    model = model_from_onnx(path)
    if isinstance(model, FusedEnsembleModel) or not isinstance(model, EnsembleModel):
        raise ValueError(f"{path}: needs an unfused ensemble file (its networks one by one)")
    from rnaloc_infer.output.files import refuse_overwrite

    out_dir = Path(out_dir)
    targets = [out_dir / f"member{i}.pt" for i in range(1, 2 + len(model.members))]
    refuse_overwrite([("checkpoint", target) for target in targets], [("model", Path(path))])
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, network in zip(targets, [model.network, *model.members]):
        save_checkpoint(target, network, extra={"from_onnx": str(path)})
    return targets
