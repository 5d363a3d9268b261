"""ONNX / TorchScript metadata per docs/DESIGN.md.

One function builds the string map so the ONNX ``metadata_props`` and the TorchScript
``_extra_files`` JSON carry exactly the same keys; the runtime reads these instead of
guessing classes, thresholds, alphabet or chunk stride.
"""

from __future__ import annotations

import json
from typing import Dict, Mapping, Optional, Sequence

from rnaloc_infer import __version__
from rnaloc_infer.alphabet import ALPHABET, PAD_CODE
from rnaloc_infer.coding import FEATURE_SET
from rnaloc_infer.training.models import LocalizationModel

FORMAT_VERSION = "1"
PRECISIONS = ("fp32", "fp16")
PREFIX = "rnaloc."


def build_metadata(
    model: LocalizationModel,
    *,
    thresholds: Optional[Sequence[float]] = None,
    train_data_sha256: str = "",
    precision: str = "fp32",
) -> Dict[str, str]:
    """Return the ``rnaloc.*`` string map; thresholds default to 0.5 per class."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    classes = list(model.config.classes)
    if thresholds is None:
        thresholds = [0.5] * len(classes)
    thresholds = [float(t) for t in thresholds]
    if len(thresholds) != len(classes):
        raise ValueError(f"{len(thresholds)} thresholds for {len(classes)} classes")
    return {
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
        # any network or the regression may read them: the graph has the input if one does
        PREFIX + "features": FEATURE_SET if model.n_features else "",
    }


def parse_metadata(props: Mapping[str, str]) -> dict:
    """Decode a ``rnaloc.*`` map back to Python values (used by tests and tools)."""
    out: dict = {}
    for key, value in props.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        if name in ("classes", "thresholds", "hparams"):
            out[name] = json.loads(value)
        elif name in ("pad_code", "stride", "format_version"):
            out[name] = int(value)
        else:
            out[name] = value
    return out
