"""TorchScript export: a scripted, weight-norm-folded model for libtorch / Python users.

The scripted module has the docs/DESIGN.md call signature
``forward(tokens, lengths, states: List[Tensor]) -> (probs, new_states)``; probabilities,
not logits, so every exported format answers the same question. The ``rnaloc.*`` metadata
travels as a JSON extra file (``rnaloc_metadata.json``) inside the archive.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Optional, Sequence

import torch

from rnaloc_infer.applicability import ApplicabilityRules
from rnaloc_infer.output.files import atomic_path
from rnaloc_infer.training.models import StreamingModel

from .metadata import build_metadata
from .prepare import ExportWrapper, export_ready

log = logging.getLogger(__name__)

METADATA_FILE = "rnaloc_metadata.json"


def script_model(model: StreamingModel, fuse: bool = True) -> torch.jit.ScriptModule:
    """Fold weight norm on a copy (``fuse``: in the cheaper layout of
    :func:`.prepare.export_ready`) and script it (fo-pooling takes its scripted-loop branch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 flags jit.*; still the libtorch path
        return torch.jit.script(ExportWrapper(export_ready(model, fuse)))


def export_torchscript(
    model: StreamingModel,
    path: str | Path,
    *,
    thresholds: Optional[Sequence[float]] = None,
    train_data_sha256: str = "",
    applicability: Optional[ApplicabilityRules] = None,
    prevalence: Optional[Sequence[float]] = None,
    fuse: bool = True,
) -> Path:
    """Write a TorchScript archive (fp32) with the metadata JSON as an extra file; returns the path.
    ``fuse``: as :func:`.onnx_export.export_onnx`'s."""
    path = Path(path)
    metadata = build_metadata(model, thresholds=thresholds, train_data_sha256=train_data_sha256, precision="fp32",
                              applicability=applicability, prevalence=prevalence)
    scripted = script_model(model, fuse)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(scripted, str(tmp), _extra_files={METADATA_FILE: json.dumps(metadata)})
    log.info("wrote %s (%s TorchScript)", path, model.config.kind)
    return path


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict]:
    """Load an archive written by :func:`export_torchscript`; returns (module, rnaloc.* string map)."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra[METADATA_FILE] or "{}")
