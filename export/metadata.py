"""ONNX / TorchScript metadata per docs/DESIGN.md.

One function builds the string map so the ONNX ``metadata_props`` and the TorchScript
``_extra_files`` JSON carry exactly the same keys; the runtime reads these instead of
guessing classes, thresholds, alphabet or chunk stride.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

from rnaloc_infer import __version__
from rnaloc_infer.alphabet import ALPHABET, PAD_CODE
from rnaloc_infer.applicability import METADATA_KEY as APPLICABILITY_KEY
from rnaloc_infer.applicability import ApplicabilityRules
from rnaloc_infer.output.files import atomic_path
from rnaloc_infer.modelfile.metadata import read_metadata
from rnaloc_infer.profile import METADATA_KEY as PREVALENCE_KEY
from rnaloc_infer.profile import parse_prevalence
from rnaloc_infer.training.models import StreamingModel

FORMAT_VERSION = "1"
PRECISIONS = ("fp32", "fp16")
PREFIX = "rnaloc."


def build_metadata(
    model: StreamingModel,
    *,
    thresholds: Optional[Sequence[float]] = None,
    train_data_sha256: str = "",
    precision: str = "fp32",
    applicability: Optional[ApplicabilityRules] = None,
    prevalence: Optional[Sequence[float]] = None,
) -> Dict[str, str]:
    """Return the ``rnaloc.*`` string map; thresholds default to 0.5 per class.

    ``applicability``: the training data's limits (rnaloc_infer.applicability); without
    them the runtime flags no record (``-``). ``prevalence``: the training positive rate per
    class (rnaloc_infer.profile); without it ``rnaloc-infer --profile`` refuses the model.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    classes = list(model.config.classes)
    if thresholds is None:
        thresholds = [0.5] * len(classes)
    thresholds = [float(t) for t in thresholds]
    if len(thresholds) != len(classes):
        raise ValueError(f"{len(thresholds)} thresholds for {len(classes)} classes")
    meta = {
        PREFIX + "format_version": FORMAT_VERSION,
        PREFIX + "classes": json.dumps(classes),
        PREFIX + "thresholds": json.dumps(thresholds),
        PREFIX + "alphabet": ALPHABET,
        PREFIX + "pad_code": str(PAD_CODE),
        PREFIX + "stride": str(int(model.config.stride)),
        PREFIX + "model_kind": model.config.kind,
        PREFIX + "hparams": json.dumps(model.config.to_dict(), sort_keys=True),
        PREFIX + "train_data_sha256": train_data_sha256 or "",
        PREFIX + "package_version": __version__,
        PREFIX + "precision": precision,
        # the set of the graph's ``features`` input, if any part reads one (rnaloc_infer.features.registry)
        PREFIX + "features": model.feature_set if model.n_features else "",
    }
    if applicability is not None:
        meta[APPLICABILITY_KEY] = applicability.to_json()
    if prevalence is not None:
        text = json.dumps([float(v) for v in prevalence])
        parse_prevalence(text, len(classes))  # the runtime's own check: a bad value fails here, not at run time
        meta[PREVALENCE_KEY] = text
    return meta


def parse_metadata(props: Mapping[str, str]) -> dict:
    """Decode a ``rnaloc.*`` map back to Python values (used by tests and tools)."""
    out: dict = {}
    for key, value in props.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        if name in ("classes", "thresholds", "hparams", "applicability", "prevalence"):
            out[name] = json.loads(value)
        elif name in ("pad_code", "stride", "format_version"):
            out[name] = int(value)
        else:
            out[name] = value
    return out


def rewrite_onnx_metadata(path: str | Path, updates: Mapping[str, str]) -> None:
    """Set ``updates`` in an ONNX file's ``metadata_props``, leaving the graph byte for byte.

    Why: thresholds and applicability rules are fitted after export (and the bundled models'
    checkpoints are not at hand), so they are patched into the file. Written to a temporary
    file and renamed; the graph of the written file is checked against the original's.
    """
    import onnx

    path = Path(path)
    proto = onnx.load(str(path))
    graph = proto.graph.SerializeToString()
    props = read_metadata(proto)
    props.update(updates)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    with atomic_path(path) as tmp:  # removed, and the file left as it was, on any error
        onnx.save(proto, str(tmp))
        if onnx.load(str(tmp)).graph.SerializeToString() != graph:
            raise RuntimeError(f"{path}: the graph changed while rewriting metadata; file left as it was")
