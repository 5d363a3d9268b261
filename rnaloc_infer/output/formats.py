"""Which format and compression an output path asks for: one registry of extensions.

The format follows the output's extension unless ``--format`` names one; the compression
follows a final ``.gz``/``.bgz``, ``.bz2``, ``.xz`` or ``.zst`` (zstd needs the
``zstandard`` package). An extension that names no format (``out.json``, ``out.txt.bz3``,
``out``) is a usage error without ``--format``: silently writing TSV under a name that
promises something else is how files get misread. Standard output is TSV unless
``--format`` says otherwise.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any, Dict, Mapping, Optional, Sequence, Tuple

from ..errors import UsageProblem
from .files import is_special
from .tables import TABLE_FORMATS

GENOME_FORMATS = ("bed", "gff3")  # need transcript coordinates: --annotation only
FORMATS = TABLE_FORMATS + GENOME_FORMATS
DEFAULT_FORMAT = "tsv"

# format -> the extensions that name it (the first is the one the docs use)
EXTENSIONS: Dict[str, Tuple[str, ...]] = {
    "tsv": (".tsv", ".tab", ".txt"),
    "csv": (".csv",),
    "jsonl": (".jsonl", ".ndjson"),
    "bed": (".bed",),
    "gff3": (".gff3", ".gff"),
}
# compression suffix -> name (rnaloc_infer.output.files writes each)
COMPRESSION_SUFFIXES: Dict[str, str] = {".gz": "gzip", ".bgz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zst"}
# extensions users try that this tool does not write: what to use instead
_REFUSED = {".json": "JSON Lines (.jsonl), one object per record", ".parquet": "--engine ray with shards, or .tsv",
            ".xlsx": ".csv or .tsv", ".xls": ".csv or .tsv"}
_BY_EXTENSION = {ext: fmt for fmt, exts in EXTENSIONS.items() for ext in exts}


@dataclass(frozen=True)
class OutputSpec:
    """Where results go and how: ``path`` None means standard output."""

    path: Optional[str]
    fmt: str
    compression: Optional[str] = None

    @property
    def name(self) -> str:
        return self.path or "standard output"

    @property
    def gzip(self) -> bool:
        return self.compression == "gzip"


def _is_stdout(path: Optional[str]) -> bool:
    return path is None or path == "-"


def split_suffixes(path: str) -> Tuple[Optional[str], str]:
    """(compression or None, the format extension in lower case, "" if none) of a file name."""
    name = PurePath(str(path)).name.lower()
    compression = None
    for suffix, kind in COMPRESSION_SUFFIXES.items():
        if name.endswith(suffix):
            compression, name = kind, name[: -len(suffix)]
            break
    return compression, PurePath(name).suffix


def format_from_extension(path: Optional[str]) -> Optional[str]:
    """The format an output file name implies (``a.csv.gz`` -> ``csv``), or None."""
    if _is_stdout(path):
        return None
    return _BY_EXTENSION.get(split_suffixes(str(path))[1])


def resolve_output(path: Optional[str], fmt: Optional[str] = None) -> OutputSpec:
    """Combine ``-o`` and ``--format``; raise :class:`UsageProblem` (exit 2) for a name whose
    extension promises a format or compression this tool does not write."""
    if fmt is not None and fmt not in FORMATS:
        raise UsageProblem(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if _is_stdout(path):
        return OutputSpec(None, fmt or DEFAULT_FORMAT)
    target = str(path)
    if is_special(target) or os.path.isdir(target):  # /dev/stdout, a FIFO: no name to read a format from
        # (a directory is refused as an output by files.check_writable, exit 3)
        return OutputSpec(target, fmt or DEFAULT_FORMAT)
    compression, extension = split_suffixes(target)
    if compression == "zst" and importlib.util.find_spec("zstandard") is None:
        raise UsageProblem(f"cannot write {target}: zstd compression needs the zstandard package "
                           "(pip install zstandard), or use .gz, .bz2 or .xz")
    if extension in _REFUSED and fmt is None:
        raise UsageProblem(f"cannot write {target}: rnaloc-infer does not write {extension} files; "
                           f"use {_REFUSED[extension]} (or --format to choose a format for this name)")
    implied = _BY_EXTENSION.get(extension)
    if fmt is None and implied is None:
        known = ", ".join(ext for exts in EXTENSIONS.values() for ext in exts)
        raise UsageProblem(f"cannot tell the output format from {target!r}: use an extension ({known}; each "
                           "optionally .gz, .bz2, .xz or .zst) or --format")
    return OutputSpec(target, fmt or implied, compression)


def make_writer(fmt: str, stream: IO[str], classes: Sequence[str], thresholds: Sequence[float], *,
                extra_columns: Sequence[str] = (), record_fields: Optional[Mapping[str, Any]] = None,
                name: str = "output", prevalence: Optional[Sequence[float]] = None) -> Any:
    """The row writer for ``fmt``: table writers for tsv/csv/jsonl, BED/GFF3 for genome runs.

    ``prevalence``: the model's training prevalence, which BED/GFF3 rank ``top_class`` and
    score by (the lift over the prior, output/genome_formats.py); tables keep the
    probabilities and ignore it.

    Every writer has ``columns``, ``write(record_id, length, probs, extra, applicability=,
    labels=)`` and ``finish()``.
    """
    if fmt in GENOME_FORMATS:
        from .genome_formats import BedWriter, Gff3Writer

        cls = BedWriter if fmt == "bed" else Gff3Writer
        return cls(stream, classes, thresholds, extra_columns=extra_columns, name=name, prevalence=prevalence)
    from .tables import ResultWriter

    return ResultWriter(stream, fmt, classes, thresholds, record_fields=record_fields, name=name, extra_columns=extra_columns)
