"""Plain-array ``.npz`` files with a JSON header: the one reader and writer of the project's artefacts.

Why one codec: the k-mer regression, the forest, the k-mer vectors, cross-fitting's
out-of-fold logits and explain's ``<model>.ism.npz`` companion are all "numpy arrays plus a
little metadata". Written four times by hand, one of them forgot the temporary file and
another could have forgotten ``allow_pickle=False``. Here:

* writing is atomic (:func:`rnaloc_infer.output.files.atomic_path`): a killed run leaves the
  old file or none, never half a zip;
* reading never unpickles (``allow_pickle=False``): an artefact from elsewhere cannot run
  code, and an object array is a one-line error naming the file;
* the header is a JSON object stored as a 0-d string array under :data:`HEADER` (numpy
  reads it without pickling), checked against a format name and version by
  :func:`check_format`.

Needs numpy only (no torch): the lean runtime reads companions with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

from .files import PathLike, atomic_path

HEADER = "header"


def save_npz(path: PathLike, arrays: Mapping[str, Any], header: Optional[Mapping[str, Any]] = None, *,
             compressed: bool = True, sort_keys: bool = False) -> Path:
    """Write ``arrays`` (and ``header`` as JSON under :data:`HEADER`, stored first) to ``path``
    atomically; returns the path (its folder is created if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content: Dict[str, Any] = {}
    if header is not None:
        if HEADER in arrays:
            raise ValueError(f"{path}: {HEADER!r} is the JSON header's name, not an array's")
        content[HEADER] = np.array(json.dumps(dict(header), sort_keys=sort_keys))
    content.update(arrays)
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp, open(tmp, "xb") as handle:  # a handle: numpy adds no ".npz" to it
        save(handle, **content)
    return path


def load_npz(path: PathLike, *, what: str, header: bool = True) -> Tuple[Optional[dict], Dict[str, np.ndarray]]:
    """(header or None, every other array, in memory) of a file :func:`save_npz` wrote.

    ``what`` names the kind of file in the one-line ``ValueError`` for a file that is
    missing, not a zip, holds pickled objects or (with ``header``) has no JSON header."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise ValueError(f"{path}: not a {what} file ({_first_line(exc)})") from None
    except Exception as exc:  # zipfile.BadZipFile and friends from a damaged archive
        raise ValueError(f"{path}: not a {what} file ({exc.__class__.__name__}: {_first_line(exc)})") from None
    if not header:
        return None, arrays
    if HEADER not in arrays:
        raise ValueError(f"{path}: not a {what} file (no JSON header)")
    try:
        meta = json.loads(str(arrays.pop(HEADER)))
    except ValueError as exc:
        raise ValueError(f"{path}: not a {what} file (header is not JSON: {exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: not a {what} file (header is not a JSON object)")
    return meta, arrays


def check_format(path: PathLike, header: Mapping[str, Any], name: str, versions: Iterable[int]) -> int:
    """The header's ``format_version``; ValueError naming the file unless ``format`` is ``name``
    and the version one of ``versions``."""
    versions = tuple(versions)
    found, version = header.get("format"), header.get("format_version")
    if found != name or version not in versions:
        wanted = " or ".join(str(v) for v in versions)
        raise ValueError(f"{path}: expected {name} version {wanted}, found {found} version {version}")
    return int(version)


def require(path: PathLike, arrays: Mapping[str, np.ndarray], names: Iterable[str], what: str) -> None:
    """ValueError naming the file and the first array it lacks."""
    for name in names:
        if name not in arrays:
            raise ValueError(f"{path}: not a {what} file (no array {name!r})")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
