"""int8 twin of an fp32 file, for CPU inference: the QRNN convolutions in 8 bits.

Why: on CPU the QRNN layers' convolutions are the largest single cost of the bundled default
(docs/PERFORMANCE.md, "Where the time goes"), and ONNX Runtime runs a
``DequantizeLinear -> Conv -> QuantizeLinear`` pattern as one ``QLinearConv`` with 8-bit
arithmetic (VNNI on current x86). The twin ``NAME.int8.onnx`` beside ``NAME.onnx`` is what the
runtime loads on CPU unless asked for fp32 (``--precision fp32``), as ``NAME.fp16.onnx`` is on
CUDA; it records the fp32 file's sha256, so a stale twin is never used.

What is quantised, and how (written out here rather than with ``onnxruntime.quantization``,
whose per-tensor output scale cost 2-3x the error, docs/PERFORMANCE.md):

* only the convolutions of QRNN layers (``.../body.N/conv/conv/Conv``; which kinds and nodes:
  ``int8`` and ``int8_conv`` in training/model_kinds.py), of all layers or of
  the first few (``rnaloc-train quantize`` keeps the most layers within the bounds below);
  the motif convolution, recurrence, pooling, heads and k-mer regression stay fp32;
* weights: symmetric int8 per output channel;
* inputs: asymmetric uint8, one scale per tensor, from the range seen on calibration records;
* outputs: each output channel divided by its calibrated largest magnitude before the
  per-tensor uint8 quantisation (folded into the weights and bias) and multiplied back after
  it, so every gate channel uses all 256 levels whatever its range.

Calibration reads records of a FASTA the caller gives (the training split for the bundled
files: never the data a model is evaluated on).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnaloc_infer.alphabet import pad_batch
from rnaloc_infer.bundled import twin_path
from rnaloc_infer.batching import plan_batches
from rnaloc_infer.fasta import Record, read_fasta
from rnaloc_infer.modelfile.digest import file_sha256
from rnaloc_infer.modelfile.metadata import FP32_SHA256_KEY, PRECISION_KEY, read_metadata, require_fp32
from rnaloc_infer.session import ModelSession
from rnaloc_infer.output.files import atomic_path, refuse_overwrite
from rnaloc_infer.training.model_kinds import KINDS, kinds_with

log = logging.getLogger(__name__)

CALIBRATION_RECORDS = 300
BATCH_NT = 65_536


def calibration_codes(fasta: Path, records: int = CALIBRATION_RECORDS) -> List[np.ndarray]:
    """``records`` records spread evenly over ``fasta`` (every k-th; deterministic)."""
    everything = [r.codes for r in read_fasta(fasta, warn_duplicates=False) if isinstance(r, Record)]
    if not everything:
        raise ValueError(f"{fasta}: no records to calibrate on")
    step = max(1, len(everything) // records)
    return everything[::step][:records]


def _int8_patterns(proto: onnx.ModelProto) -> List["re.Pattern[str]"]:
    """The node-name patterns of the quantisable convolutions of the graph's network kinds
    (training/model_kinds.py, ``int8``); every int8 kind's when the file has no hparams."""
    meta = {p.key: p.value for p in proto.metadata_props}
    try:
        config = json.loads(meta.get("rnaloc.hparams") or "{}")
    except ValueError:
        config = {}
    networks = [config, *config.get("members", [])] if isinstance(config, dict) else []
    kinds = {n.get("kind") for n in networks if isinstance(n, dict) and n.get("kind")} or set(kinds_with("int8"))
    return [re.compile(KINDS[k].int8_conv) for k in sorted(kinds) if k in KINDS and KINDS[k].int8]


def _qrnn_convs(proto: onnx.ModelProto) -> List[Tuple[int, onnx.NodeProto]]:
    """(layer index, node) of every quantisable convolution of the graph (QRNN layers' today)."""
    patterns = _int8_patterns(proto)
    found = []
    for node in proto.graph.node:
        match = next((m for m in (p.search(node.name) for p in patterns) if m), None) if node.op_type == "Conv" else None
        if match:
            found.append((int(match.group(1)), node))
    return found


@dataclass
class Calibration:
    """Per-channel (minimum, maximum) of every QRNN convolution's input and output over the
    calibration records, and which records those were (for the twin's metadata)."""

    ranges: Dict[str, Tuple[np.ndarray, np.ndarray]]
    described: str


def calibrate(fp32: Path, fasta: Path, records: int = CALIBRATION_RECORDS) -> Calibration:
    """Run ``fp32`` on ``records`` records of ``fasta`` and record its QRNN convolutions' ranges."""
    proto = onnx.load(str(fp32))
    convs = [node for _, node in _qrnn_convs(proto)]
    if not convs:
        raise ValueError(f"{fp32}: no QRNN convolution to quantise")
    codes = calibration_codes(fasta, records)
    session = ModelSession(fp32, device="cpu", intra_op_threads=1, prefer_int8=False)
    return Calibration(_ranges(proto, convs, session, codes),
                       f"{fasta.name}: {len(codes)} records, {sum(len(c) for c in codes):,} nt")


def _feeds(session: ModelSession, codes: List[np.ndarray]):
    """The runtime's own batches of ``codes``: feeds for ``InferenceSession.run``."""
    for batch in plan_batches([len(c) for c in codes], BATCH_NT):
        members = [codes[i] for i in batch]
        tokens, lengths = pad_batch(members)
        yield session.feeds(tokens, lengths, features=session.record_features(members))


def _ranges(proto: onnx.ModelProto, convs: List[onnx.NodeProto], session: ModelSession,
            codes: List[np.ndarray]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Per conv input and output: per-channel minimum and maximum over the calibration records."""
    import onnxruntime as ort

    probe = copy.deepcopy(proto)
    names = [name for node in convs for name in (node.input[0], node.output[0])]
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    runner = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    lows: Dict[str, np.ndarray] = {}
    highs: Dict[str, np.ndarray] = {}
    for feed in _feeds(session, codes):
        for name, value in zip(names, runner.run(names, feed)):
            low, high = value.min(axis=(0, 2)), value.max(axis=(0, 2))
            lows[name] = np.minimum(lows[name], low) if name in lows else low
            highs[name] = np.maximum(highs[name], high) if name in highs else high
    return {name: (lows[name], highs[name]) for name in names}


def _quantised_conv(node: onnx.NodeProto, weights: Dict[str, np.ndarray],
                    x_range: Tuple[np.ndarray, np.ndarray], y_range: Tuple[np.ndarray, np.ndarray]):
    """Nodes and initialisers replacing one fp32 ``Conv`` (see the module docstring)."""
    x, w_name, b_name = node.input
    tag = node.name
    low, high = float(min(x_range[0].min(), 0.0)), float(max(x_range[1].max(), 0.0))
    x_scale = max(high - low, 1e-8) / 255.0
    x_zero = int(np.clip(round(-low / x_scale), 0, 255))
    reach = np.maximum(np.maximum(np.abs(y_range[0]), np.abs(y_range[1])), 1e-6).astype(np.float64)  # per out channel
    w = weights[w_name].astype(np.float64) / reach[:, None, None]
    b = weights[b_name].astype(np.float64) / reach
    w_scale = np.maximum(np.abs(w).reshape(len(reach), -1).max(axis=1), 1e-12) / 127.0
    initialisers = {
        f"{tag}_x_scale": np.array(x_scale, np.float32), f"{tag}_x_zero": np.array(x_zero, np.uint8),
        f"{tag}_w": np.clip(np.round(w / w_scale[:, None, None]), -127, 127).astype(np.int8),
        f"{tag}_w_scale": w_scale.astype(np.float32), f"{tag}_w_zero": np.zeros(len(reach), np.int8),
        f"{tag}_b": np.round(b / (np.float32(x_scale) * w_scale.astype(np.float32))).astype(np.int32),
        f"{tag}_b_scale": (np.float32(x_scale) * w_scale.astype(np.float32)), f"{tag}_b_zero": np.zeros(len(reach), np.int32),
        f"{tag}_y_scale": np.array(2.0 / 255.0, np.float32), f"{tag}_y_zero": np.array(128, np.uint8),
        f"{tag}_reach": reach.astype(np.float32).reshape(1, -1, 1),
    }
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    nodes = [
        helper.make_node("QuantizeLinear", [x, f"{tag}_x_scale", f"{tag}_x_zero"], [f"{tag}_xq"], name=f"{tag}_xq"),
        helper.make_node("DequantizeLinear", [f"{tag}_xq", f"{tag}_x_scale", f"{tag}_x_zero"], [f"{tag}_xd"], name=f"{tag}_xd"),
        helper.make_node("DequantizeLinear", [f"{tag}_w", f"{tag}_w_scale", f"{tag}_w_zero"], [f"{tag}_wd"], name=f"{tag}_wd", axis=0),
        helper.make_node("DequantizeLinear", [f"{tag}_b", f"{tag}_b_scale", f"{tag}_b_zero"], [f"{tag}_bd"], name=f"{tag}_bd", axis=0),
        helper.make_node("Conv", [f"{tag}_xd", f"{tag}_wd", f"{tag}_bd"], [f"{tag}_y"], name=tag, **attributes),
        helper.make_node("QuantizeLinear", [f"{tag}_y", f"{tag}_y_scale", f"{tag}_y_zero"], [f"{tag}_yq"], name=f"{tag}_yq"),
        helper.make_node("DequantizeLinear", [f"{tag}_yq", f"{tag}_y_scale", f"{tag}_y_zero"], [f"{tag}_yd"], name=f"{tag}_yd"),
        helper.make_node("Mul", [f"{tag}_yd", f"{tag}_reach"], [node.output[0]], name=f"{tag}_rescale"),
    ]
    return nodes, initialisers


def quantise(fp32: Path, calibration: Union[Path, Calibration], out: Optional[Path] = None,
             records: int = CALIBRATION_RECORDS, layers: Optional[int] = None) -> Path:
    """Write the int8 twin of ``fp32`` (default ``NAME.int8.onnx`` beside it); returns its path.

    ``calibration``: a FASTA to calibrate on (``records`` of its records), or the
    :func:`calibrate` result of an earlier call. ``layers``: quantise only the convolutions of
    the first that many QRNN layers (None: all). Raises ValueError for a file with no QRNN
    convolution to quantise."""
    fp32 = Path(fp32)
    out = twin_path(fp32, "int8") if out is None else Path(out)
    fasta = [] if isinstance(calibration, Calibration) else [("calibration FASTA", calibration)]
    refuse_overwrite([("int8 twin", out)], [("model", fp32), *fasta])
    proto = onnx.load(str(fp32))
    meta = read_metadata(proto)
    require_fp32(meta, fp32, "quantising")
    convs = [node for layer, node in _qrnn_convs(proto) if layers is None or layer < layers]
    if not convs:
        raise ValueError(f"{fp32}: no QRNN convolution to quantise")
    if not isinstance(calibration, Calibration):
        calibration = calibrate(fp32, Path(calibration), records)
    ranges = calibration.ranges
    weights = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    replaced = {id(node) for node in convs}
    nodes: List[onnx.NodeProto] = []
    used = set()
    for node in proto.graph.node:
        if id(node) not in replaced:
            nodes.append(node)
            continue
        new_nodes, initialisers = _quantised_conv(node, weights, ranges[node.input[0]], ranges[node.output[0]])
        nodes.extend(new_nodes)
        proto.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in initialisers.items())
        used.update(node.input[1:])
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    still_read = {name for node in nodes for name in node.input}
    kept = [i for i in proto.graph.initializer if i.name not in used or i.name in still_read]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    calibrated = calibration.described
    onnx.helper.set_model_props(proto, {**meta, PRECISION_KEY: "int8", FP32_SHA256_KEY: file_sha256(fp32),
                                        "rnaloc.int8": json.dumps({"convolutions": [n.name for n in convs],
                                                                   "calibration": calibrated})})
    onnx.checker.check_model(proto)
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))
    log.info("wrote %s (%d convolutions in int8; calibrated on %s)", out, len(convs), calibrated)
    return out


PROBABILITY_BOUND = 1e-2  # issue 21: every probability within 0.01 of the fp32 model ...
AUROC_BOUND = 2e-3  # ... and every class's validation AUROC within 0.002


Scores = Tuple[List[str], np.ndarray, Sequence[str]]  # record ids, probabilities, classes


def file_scores(path: Path, fasta: Path) -> Scores:
    """Exactly the file ``path`` (no twin in its place) on every record of ``fasta``."""
    from rnaloc_infer.api import Predictor

    predictor = Predictor(path, device="cpu", precision="fp32")
    predictions = list(predictor.predict_fasta(fasta))
    return [p.id for p in predictions], np.array([list(p.probabilities.values()) for p in predictions]), predictor.classes


def twin_report(fp32: Path, twin: Path, fasta: Path, labels: Path, reference: Optional[Scores] = None) -> dict:
    """The twin against its fp32 file on a labelled set: largest probability difference and
    per-class AUROC of each, and whether both stay within the bounds above. ``reference``:
    the fp32 file's :func:`file_scores` on ``fasta``, when already computed."""
    from rnaloc_infer.evaluation.labels import match_labels, read_labels
    from rnaloc_infer.evaluation.metrics import roc_auc

    ids, exact, classes = file_scores(fp32, fasta) if reference is None else reference
    _, reduced, _ = file_scores(twin, fasta)
    y = match_labels(ids, read_labels(labels, classes), pred_source=str(fasta), label_source=str(labels))
    auroc = {name: (roc_auc(y[:, c], exact[:, c]), roc_auc(y[:, c], reduced[:, c])) for c, name in enumerate(classes)}
    difference = float(np.abs(reduced - exact).max())
    worst_auroc = max(abs(a - b) for a, b in auroc.values())
    return {"records": len(ids), "max_probability_difference": difference, "max_auroc_difference": worst_auroc,
            "auroc_fp32_int8": {name: [round(a, 5), round(b, 5)] for name, (a, b) in auroc.items()},
            "within_bounds": difference <= PROBABILITY_BOUND and worst_auroc <= AUROC_BOUND}


def quantise_checked(fp32: Path, calibration: Path, valid_fasta: Path, valid_labels: Path) -> dict:
    """:func:`quantise` every QRNN layer, then :func:`twin_report` on the validation set; while
    the twin is outside the bounds, again with one layer fewer (the last layers' errors reach
    the heads least diluted). No twin within the bounds: none is kept, and the runtime runs
    the fp32 file. Returns the report of every attempt and the twin kept (or None)."""
    depth = 1 + max((layer for layer, _ in _qrnn_convs(onnx.load(str(fp32)))), default=-1)
    calibrated = calibrate(fp32, calibration)  # once: every attempt quantises with the same ranges
    reference = file_scores(fp32, valid_fasta)
    attempts = []
    for layers in range(depth, 0, -1):
        twin = quantise(fp32, calibrated, layers=layers)
        report = {"layers": layers, **twin_report(fp32, twin, valid_fasta, valid_labels, reference)}
        attempts.append(report)
        if report["within_bounds"]:
            return {"twin": str(twin), "layers": layers, "of_layers": depth, "attempts": attempts}
        twin.unlink()
        log.warning("%s: int8 twin with %d of %d QRNN layers differs by %.3g (probability) / %.3g (AUROC), over the bounds",
                    fp32.name, layers, depth, report["max_probability_difference"], report["max_auroc_difference"])
    return {"twin": None, "layers": 0, "of_layers": depth, "attempts": attempts}
