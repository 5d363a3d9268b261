"""Export a network or an ensemble (:class:`~rnaloc_infer.training.models.StreamingModel`) to
a self-contained ONNX file (docs/DESIGN.md).

Pipeline: fold weight norm on a copy (fp16: cast it to half, pooling and head kept fp32)
-> legacy TorchScript-based exporter (``dynamo=False``, so the fo-pooling autograd function
emits its ``rnaloc::FoPool`` placeholder) -> swap each placeholder for a standard ``Scan``
-> padding masks as Max / Min (:mod:`.cheap_masks`) -> drop dead nodes -> metadata -> checker.
The result runs in stock ONNX Runtime with no custom-op library.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import onnx
import torch

from rnaloc_infer import __version__
from rnaloc_infer.applicability import ApplicabilityRules
from rnaloc_infer.output.files import atomic_path
from rnaloc_infer.training.checkpoint import load_checkpoint
from rnaloc_infer.training.models import StreamingModel

from .cheap_masks import rewrite_masks
from .fp16 import HalfExportWrapper, to_half
from .graph_clean import remove_dead_nodes
from .metadata import build_metadata
from .prepare import ExportWrapper, example_inputs, export_ready
from .scan import Lowering, hybrid_nodes, non_default_domains, replace_fo_pool

log = logging.getLogger(__name__)

MIN_OPSET = 17


def io_names(n_states: int, features: bool = False) -> tuple[List[str], List[str]]:
    """Input and output names in call order: tokens, lengths, state_in_i (, features) / probs, state_out_i."""
    inputs = ["tokens", "lengths"] + [f"state_in_{i}" for i in range(n_states)] + (["features"] if features else [])
    outputs = ["probs"] + [f"state_out_{i}" for i in range(n_states)]
    return inputs, outputs


def trace_to_onnx(
    model: StreamingModel,
    *,
    opset: int = MIN_OPSET,
    fo_pool_impl: Optional[Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = None,
    wrapper: Optional[torch.nn.Module] = None,
) -> onnx.ModelProto:
    """Raw export (placeholders still in); ``model`` must already be folded and in eval mode.

    ``wrapper`` defaults to :class:`ExportWrapper` around ``model`` (fp16 passes its own).

    ``fo_pool_impl`` swaps the fo-pooling function used while tracing (the benchmark passes the
    scripted loop to reproduce the legacy ``Loop`` representation); ``None`` keeps the placeholder.
    """
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    n_states = len(model.state_shapes())
    in_names, out_names = io_names(n_states, model.n_features > 0)
    dynamic_axes = {"tokens": {0: "batch", 1: "length"}, "lengths": {0: "batch"}, "probs": {0: "batch"}}
    for name in in_names[2:] + out_names[1:]:
        dynamic_axes[name] = {0: "batch"}
    buffer = io.BytesIO()
    from rnaloc_infer.training import layers

    original = layers.fo_pool
    if fo_pool_impl is not None:
        layers.fo_pool = fo_pool_impl
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper if wrapper is not None else ExportWrapper(model),
                example_inputs(model),
                buffer,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                custom_opsets=_custom_opsets(model),
                do_constant_folding=True,
                dynamo=False,
            )
    finally:
        layers.fo_pool = original
    return onnx.load_from_string(buffer.getvalue())


def _custom_opsets(model: torch.nn.Module) -> Optional[dict]:
    """The fo-pooling placeholder's domain and, with a forest member, ONNX-ML's (its trees)."""
    from rnaloc_infer.training.forest import KmerForest
    from rnaloc_infer.trees import TREE_DOMAIN

    opsets = {"rnaloc": 1} if _has_fo_pool(model) else {}
    if any(isinstance(m, KmerForest) for m in model.modules()):
        opsets[TREE_DOMAIN] = 3
    return opsets or None


def _has_fo_pool(model: torch.nn.Module) -> bool:
    """Only QRNN layers emit the placeholder; naming an unused domain makes torch warn."""
    from rnaloc_infer.training.layers import QRNNLayer

    return any(isinstance(m, QRNNLayer) for m in model.modules())


def build_onnx(
    model: StreamingModel,
    *,
    thresholds: Optional[Sequence[float]] = None,
    train_data_sha256: str = "",
    precision: str = "fp32",
    opset: int = MIN_OPSET,
    lower_fo_pool: Lowering = hybrid_nodes,
    applicability: Optional[ApplicabilityRules] = None,
    prevalence: Optional[Sequence[float]] = None,
    fuse: bool = True,
) -> onnx.ModelProto:
    """In-memory version of :func:`export_onnx`; ``lower_fo_pool`` replaces each fo-pooling
    placeholder (the shipped formulation unless the fo-pooling benchmark passes another)."""
    metadata = build_metadata(model, thresholds=thresholds, train_data_sha256=train_data_sha256, precision=precision,
                              applicability=applicability, prevalence=prevalence)
    folded = export_ready(model, fuse, pad_channel=fuse)
    wrapper = None
    elem_type = onnx.TensorProto.FLOAT
    if precision == "fp16":
        wrapper = HalfExportWrapper(to_half(folded))
        elem_type = onnx.TensorProto.FLOAT16
    proto = trace_to_onnx(folded, opset=opset, wrapper=wrapper)
    replace_fo_pool(proto, lower_fo_pool, elem_type=elem_type)
    rewrite_masks(proto)
    remove_dead_nodes(proto)
    onnx.helper.set_model_props(proto, metadata)
    proto.producer_name = "rnaloc-infer"
    proto.producer_version = __version__
    onnx.checker.check_model(proto)
    stray = non_default_domains(proto)
    if stray:
        raise RuntimeError(f"exported graph still has non-standard nodes: {sorted(set(stray))}")
    return proto


def export_onnx(
    model: StreamingModel,
    path: str | Path,
    *,
    thresholds: Optional[Sequence[float]] = None,
    train_data_sha256: str = "",
    precision: str = "fp32",
    opset: int = MIN_OPSET,
    applicability: Optional[ApplicabilityRules] = None,
    prevalence: Optional[Sequence[float]] = None,
    fuse: bool = True,
) -> Path:
    """Write ``model`` as a runnable ONNX file following docs/DESIGN.md; returns the path.

    ``fuse``: the cheaper graph of :func:`.prepare.export_ready` (same numbers up to float
    rounding). The caller's model is not modified (weight norm is folded on a rebuilt copy).
    """
    path = Path(path)
    proto = build_onnx(model, thresholds=thresholds, train_data_sha256=train_data_sha256, precision=precision, opset=opset,
                       applicability=applicability, prevalence=prevalence, fuse=fuse)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    log.info("wrote %s (%s, %s, opset %d)", path, model.config.kind, precision, opset)
    return path


def checkpoint_metadata(payload: dict) -> dict:
    """The export keywords a checkpoint carries: its valid-tuned thresholds and training-data digest."""
    return {"thresholds": payload.get("thresholds"), "train_data_sha256": str(payload.get("train_data_sha256", ""))}


def export_onnx_from_checkpoint(
    checkpoint: str | Path,
    path: str | Path,
    *,
    precision: str = "fp32",
    opset: int = MIN_OPSET,
    fuse: bool = True,
) -> Path:
    """Load a checkpoint (weights_only) and export it with its stored thresholds and data digest."""
    model, payload = load_checkpoint(checkpoint)
    return export_onnx(model, path, precision=precision, opset=opset, fuse=fuse, **checkpoint_metadata(payload))
