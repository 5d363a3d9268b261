"""Resolve a model argument: a bundled model name ("default") or a path to an .onnx file.

Bundled models live in ``rnaloc_infer/models/NAME.onnx`` (package data), found with
importlib.resources so they work from wheels and editable installs alike.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import List, Union

from .errors import ModelError

DEFAULT_MODEL = "default"
# NAME.fp16.onnx / NAME.int8.onnx beside NAME.onnx: its reduced-precision twins (docs/EXPORT.md),
# which the runtime loads in its place on CUDA / the CPU; not models of their own.
TWIN_SUFFIXES = (".fp16.onnx", ".int8.onnx")


def _models_dir() -> Path:
    return Path(str(resources.files("rnaloc_infer").joinpath("models")))


def bundled_models() -> List[str]:
    """Names of the models shipped with the package (without the .onnx suffix)."""
    folder = _models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".onnx")] for p in folder.glob("*.onnx") if not p.name.endswith(TWIN_SUFFIXES))


def twin_path(model: Path, precision: str) -> Path:
    """NAME.onnx -> NAME.<precision>.onnx: where its ``fp16`` or ``int8`` twin is (or goes)."""
    if not model.name.endswith(".onnx"):
        raise ValueError(f"{model}: not an .onnx file")
    return model.with_name(model.name[: -len(".onnx")] + f".{precision}.onnx")


def resolve_model(model: Union[str, "os.PathLike[str]"] = DEFAULT_MODEL) -> Path:
    """Path of the model file; a name without a path separator or suffix means a bundled model."""
    text = os.fspath(model)
    candidate = _models_dir() / f"{text}.onnx"
    # A bundled name wins over a same-named file or folder in the working directory.
    looks_like_path = os.sep in text or "/" in text or text.endswith(".onnx") or (Path(text).exists() and not candidate.is_file())
    if looks_like_path:
        return Path(text)
    if not candidate.is_file():
        names = ", ".join(bundled_models()) or "none installed"
        raise ModelError(f"no bundled model named {text!r} (bundled: {names}); pass a path to an .onnx file with --model")
    return candidate
