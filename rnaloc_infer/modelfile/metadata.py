"""The one reader of an rnaloc model's ONNX metadata (``metadata_props``) as a dict.

Why one: the runtime (an ONNX Runtime session), the exporters (an ``onnx`` ModelProto) and
tools that only need a key or two (a path) all read the same ``rnaloc.*`` map, and each
used to build the dict itself and repeat the "fp32 file only" check. A path is read here
without ``onnx`` or ``onnxruntime``: the metadata is field 14 of the ModelProto message
(onnx/onnx.proto), found by skipping the other top-level fields (the graph is one
length-prefixed field, skipped with a seek), so reading it costs a few small reads however
large the model is.
"""

from __future__ import annotations

import json
import math
import os
from typing import IO, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]
PRECISION_KEY = "rnaloc.precision"
FP32_SHA256_KEY = "rnaloc.fp32_sha256"  # an int8 twin's tie to the fp32 file it was made from
_METADATA_FIELD = 14  # ModelProto.metadata_props (repeated StringStringEntryProto {key = 1; value = 2})
THRESHOLDS_KEY = "rnaloc.thresholds"
# In memory, a class whose metadata threshold is JSON null ("no label": its label would carry
# no information, e.g. Exosome, positive for 99 % of training mRNAs) has threshold +inf, which
# no probability reaches: every consumer of the thresholds (labels, counts, the API, the Ray
# engine, explain's "(called)") then never labels it without a special case of its own.
NO_LABEL = math.inf
# Characters a class name may not contain: they would shift or split a column of TSV/CSV/BED
# (tab, newline, comma), need quoting (quotes), or be invisible (control characters).
_BAD_NAME_CHARS = "\t\n\r,\"'"


def parse_thresholds(text: str, n_classes: int) -> Tuple[float, ...]:
    """Decode and check ``rnaloc.thresholds``: one number in [0, 1] per class, or JSON null
    for a class that is never labelled (read as :data:`NO_LABEL`). Raises ValueError with
    the problem (the caller names the file)."""
    try:
        values = json.loads(text)
    except ValueError:
        raise ValueError("is not JSON") from None
    if not isinstance(values, list) or len(values) != n_classes:
        raise ValueError(f"must list {n_classes} numbers or nulls (one per class)")
    out: List[float] = []
    for value in values:
        if value is None:
            out.append(NO_LABEL)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"must be numbers in [0, 1] or null (no label), got {json.dumps(value)}")
        else:
            out.append(float(value))
    if all(t == NO_LABEL for t in out):
        raise ValueError("leaves every class unlabelled (null); at least one class needs a threshold")
    return tuple(out)


def threshold_json(threshold: float) -> Optional[float]:
    """A threshold as the metadata and the sidecar write it: None (JSON null) for no label."""
    return None if threshold == NO_LABEL else float(threshold)


def unlabelled(classes: Sequence[str], thresholds: Sequence[float]) -> List[str]:
    """The classes that are never labelled (threshold null in the metadata), in model order."""
    return [name for name, t in zip(classes, thresholds) if t == NO_LABEL]


def class_name_problem(name: object) -> str:
    """"" for a usable class name, else why not (it becomes a column name and a label)."""
    if not isinstance(name, str) or not name:
        return "names must be non-empty strings"
    if name != name.strip():
        return f"class name {name!r} has leading or trailing spaces"
    if any(ch in _BAD_NAME_CHARS or ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        return f"class name {name!r} contains a tab, newline, comma, quote or control character"
    return ""


class MetadataError(ValueError):
    """The file is not a readable ONNX model (truncated, not protobuf)."""


def read_metadata(source: Any) -> Dict[str, str]:
    """The model's metadata as {key: value}.

    ``source``: a path to an ``.onnx`` file, an ``onnx.ModelProto`` (anything with
    ``metadata_props``), an ``onnxruntime.InferenceSession`` (anything with
    ``get_modelmeta``), or a mapping (returned as a dict). Raises :class:`MetadataError`
    for a path that is not an ONNX model and OSError when it cannot be read.
    """
    if hasattr(source, "metadata_props"):
        return {p.key: p.value for p in source.metadata_props}
    if hasattr(source, "get_modelmeta"):
        return dict(source.get_modelmeta().custom_metadata_map)
    if isinstance(source, Mapping):
        return dict(source)
    with open(source, "rb") as handle:
        return _read_props(handle, os.fstat(handle.fileno()).st_size, os.fspath(source))


def precision_of(meta: Mapping[str, str]) -> str:
    """The file's precision: fp32 (the model itself), fp16 or int8 (its twins)."""
    return meta.get(PRECISION_KEY, "fp32")


def fp32_problem(meta: Mapping[str, str], action: str) -> str:
    """"" for an fp32 file; else the one-line reason ``action`` needs the fp32 file instead.

    ``action`` completes "... needs the fp32 file", e.g. "quantising" or "the numpy engine"."""
    precision = precision_of(meta)
    if precision == "fp32":
        return ""
    return f"{action} needs the model's fp32 file, not its {precision} twin"


def require_fp32(meta: Mapping[str, str], where: PathLike, action: str) -> None:
    """Raise ValueError naming ``where`` unless the metadata is an fp32 file's (see :func:`fp32_problem`)."""
    problem = fp32_problem(meta, action)
    if problem:
        raise ValueError(f"{os.fspath(where)}: {problem}")


# ------------------------------------------------------------- protobuf wire format
def _varint(handle: IO[bytes], shown: str) -> int:
    value, shift = 0, 0
    while True:
        byte = handle.read(1)
        if not byte:
            raise MetadataError(f"{shown}: not an ONNX model (truncated protobuf)")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
        if shift > 63:
            raise MetadataError(f"{shown}: not an ONNX model (bad protobuf varint)")


def _fields(data: bytes, shown: str) -> Dict[int, bytes]:
    """The length-delimited fields of a small message held in memory (an entry: key, value)."""
    out: Dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        tag, pos = _varint_bytes(data, pos, shown)
        field, wire = tag >> 3, tag & 7
        if wire == 2:
            size, pos = _varint_bytes(data, pos, shown)
            out[field] = data[pos:pos + size]
            pos += size
        elif wire == 0:
            _, pos = _varint_bytes(data, pos, shown)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise MetadataError(f"{shown}: not an ONNX model (protobuf wire type {wire})")
    if pos != len(data):
        raise MetadataError(f"{shown}: not an ONNX model (truncated metadata entry)")
    return out


def _varint_bytes(data: bytes, pos: int, shown: str) -> Tuple[int, int]:
    value, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise MetadataError(f"{shown}: not an ONNX model (truncated protobuf)")


def _read_props(handle: IO[bytes], size: int, shown: str) -> Dict[str, str]:
    props: Dict[str, str] = {}
    while handle.tell() < size:
        tag = _varint(handle, shown)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise MetadataError(f"{shown}: not an ONNX model (protobuf field 0)")
        if wire == 0:
            _varint(handle, shown)
        elif wire in (1, 5):
            handle.seek(8 if wire == 1 else 4, os.SEEK_CUR)
        elif wire == 2:
            length = _varint(handle, shown)
            if handle.tell() + length > size:
                raise MetadataError(f"{shown}: not an ONNX model (field {field} runs past the end)")
            if field == _METADATA_FIELD:
                entry = _fields(handle.read(length), shown)
                try:
                    props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
                except UnicodeDecodeError:
                    raise MetadataError(f"{shown}: not an ONNX model (metadata is not UTF-8)") from None
            else:
                handle.seek(length, os.SEEK_CUR)
        else:
            raise MetadataError(f"{shown}: not an ONNX model (protobuf wire type {wire})")
    if handle.tell() != size:
        raise MetadataError(f"{shown}: not an ONNX model (truncated protobuf)")
    return props
