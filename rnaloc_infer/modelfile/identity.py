"""How a model is named wherever a person reads it: name, version and a short sha256.

Why the digest: a model's name and version do not tell its weights apart (two releases of
``default`` built by the same package version from the same data carry the same version
string), while the file's sha256 does. Pictures, track lines and log lines show its first
:data:`SHORT_SHA256` hex digits (enough to tell files apart by eye); the JSON sidecar and every
JSONL record carry the full digest (rnaloc_infer.output.sidecar).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

from .digest import file_sha256

SHORT_SHA256 = 8  # hex digits shown to people


def short_sha256(sha256: str) -> str:
    """The first :data:`SHORT_SHA256` hex digits of a sha256 digest ("unknown" without one)."""
    return sha256[:SHORT_SHA256] if sha256 else "unknown"


def model_label(name: str, version: str, sha256: str) -> str:
    """``"default 0.1.0 (sha256 f1840d0c)"``: the one way a model is named to people."""
    return f"{name} {version or 'unknown'} (sha256 {short_sha256(sha256)})"


def model_name(model_arg: Union[str, "os.PathLike[str]"], model_path: Union[str, "os.PathLike[str]"]) -> str:
    """The bundled name as given (``default``, ``fast``), or the file name of a model given as a path."""
    bundled = Path(os.fspath(model_arg)) != Path(model_path)
    return os.fspath(model_arg) if bundled else Path(model_path).name


def describe_model(model_arg: Union[str, "os.PathLike[str]"], model_path: Union[str, "os.PathLike[str]"],
                   info: Any) -> str:
    """:func:`model_label` of a resolved model: its name, the version of the package that exported
    it (``info.package_version``, a :class:`~rnaloc_infer.session.ModelInfo`'s) and the sha256
    of the file ``model_path`` (the model asked for, also when its int8/fp16 twin ran)."""
    return model_label(model_name(model_arg, model_path), getattr(info, "package_version", ""), file_sha256(model_path))
