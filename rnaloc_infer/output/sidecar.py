"""Run metadata as a JSON file beside the output (``out.tsv`` -> ``out.tsv.json``).

Why a sidecar and not comment lines in the table: a table whose first line is its header
is read by pandas, R, csvkit and DuckDB with their defaults; provenance (tool version, the
model's name and sha256, thresholds, options, inputs, counts, start and end time) still
travels with the result, as SignalP 6 and many pipeline tools do it. Written atomically
(temporary file + rename) like the output itself.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from .. import __version__
from ..modelfile.digest import file_sha256
from .formats import OutputSpec
from .summary import RunSummary

SIDECAR_SUFFIX = ".json"
SCHEMA = "rnaloc-infer/run-metadata/1"


def sidecar_path(output: str) -> str:
    """``out.tsv`` -> ``out.tsv.json`` (``out.tsv.gz`` -> ``out.tsv.gz.json``)."""
    return output + SIDECAR_SUFFIX


def model_identity(model_arg: str, model_path: Path, info: Any) -> Dict[str, Any]:
    """Name, file, sha256, version, classes and thresholds of the model a run used.

    ``name`` is the bundled name as given (``default``, ``fast``) or the file name of a
    model given as a path; ``sha256`` is that file's. ``precision`` and ``loaded`` say which
    file ran: the model itself (fp32) or its int8 / fp16 twin (docs/EXPORT.md).
    ``unlabelled_classes``: the classes never labelled (threshold null in the model's
    metadata, shown as null under ``thresholds``), e.g. a class positive for almost every
    training record, whose label would carry no information.
    """
    from ..modelfile.identity import model_label, model_name
    from ..modelfile.metadata import threshold_json, unlabelled

    sha256 = file_sha256(model_path)
    return {
        "name": model_name(model_arg, model_path),
        "label": model_label(model_name(model_arg, model_path), getattr(info, "package_version", ""), sha256),
        "path": str(model_path),
        "sha256": sha256,
        "precision": getattr(info, "precision", "fp32"),
        "loaded": str(getattr(info, "path", model_path)),
        "version": info.version,
        "kind": info.kind,
        "train_data_sha256": info.train_data_sha256 or None,
        "classes": list(info.classes),
        "thresholds": {name: threshold_json(t) for name, t in zip(info.classes, info.thresholds)},
        "unlabelled_classes": unlabelled(info.classes, info.thresholds),
    }


def record_fields(model: Mapping[str, Any]) -> Dict[str, str]:
    """Provenance fields that every JSONL record carries (the rest is in the sidecar)."""
    return {"rnaloc_infer_version": __version__, "model": model["name"], "model_sha256": model["sha256"]}


def _iso(timestamp: Optional[float]) -> Optional[str]:
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, tz=_dt.timezone.utc).isoformat(timespec="seconds")


def _input_entry(path: str) -> Dict[str, Any]:
    if path == "-":
        return {"path": "-", "bytes": None}
    try:
        size: Optional[int] = os.stat(path).st_size
    except OSError:
        size = None
    return {"path": os.path.abspath(path), "bytes": size}


def run_metadata(
    *,
    model: Mapping[str, Any],
    inputs: Sequence[str],
    output: OutputSpec,
    columns: Sequence[str],
    options: Mapping[str, Any],
    summary: RunSummary,
    engine: str = "local",
    annotation: Optional[str] = None,
    output_sha256: Optional[str] = None,
    tool: str = "rnaloc-infer",
) -> Dict[str, Any]:
    """The sidecar's content (JSON-ready). ``output_sha256``: the digest of the output as it
    was put in place, so a sidecar can be matched with its table (a stale one cannot)."""
    return {
        "schema": SCHEMA,
        "tool": tool,
        "version": __version__,
        "command": list(sys.argv),
        "started": _iso(summary.started),
        "finished": _iso(summary.finished),
        "engine": engine,
        "model": dict(model),
        "inputs": [_input_entry(p) for p in inputs],
        "annotation": _input_entry(annotation) if annotation else None,
        "output": {
            "path": os.path.abspath(output.path) if output.path else None,
            "format": output.fmt,
            "compression": output.compression,
            "sha256": output_sha256,
            "columns": list(columns),
        },
        "options": dict(options),
        "summary": summary.as_dict(),
    }


def write_sidecar(path: str, metadata: Mapping[str, Any]) -> None:
    """Write the metadata JSON atomically (errors become OutputError, exit status 3)."""
    from .files import atomic_output

    with atomic_output(path, name=f"metadata file {path}") as handle:
        json.dump(metadata, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def remove_stale_sidecar(path: str) -> None:
    """Remove the metadata of a previous run before its output is replaced: a table must
    never stand beside a sidecar that describes another table."""
    from .files import is_special

    if os.path.lexists(path) and not is_special(path) and not os.path.isdir(path):
        try:
            os.unlink(path)
        except OSError as exc:
            from ..errors import output_error

            raise output_error(f"metadata file {path}", exc) from None
