"""Which format and compression an output path asks for.

The format follows the output's extension (``.tsv``, ``.csv``, ``.jsonl``, ``.bed``,
``.gff3``, each optionally followed by ``.gz``) unless ``--format`` names one; standard
output and unknown extensions default to TSV. Compression follows ``.gz`` alone, so
``-o out.tsv.gz --format csv`` is gzip-compressed CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any, Mapping, Optional, Sequence

TABLE_FORMATS = ("tsv", "csv", "jsonl")
GENOME_FORMATS = ("bed", "gff3")  # need transcript coordinates: --annotation only
FORMATS = TABLE_FORMATS + GENOME_FORMATS
DEFAULT_FORMAT = "tsv"
GZIP_SUFFIX = ".gz"

_BY_EXTENSION = {
    ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".bed": "bed",
    ".gff3": "gff3", ".gff": "gff3",
}


@dataclass(frozen=True)
class OutputSpec:
    """Where results go and how: ``path`` None means standard output."""

    path: Optional[str]
    fmt: str
    gzip: bool = False

    @property
    def name(self) -> str:
        return self.path or "standard output"


def _is_stdout(path: Optional[str]) -> bool:
    return path is None or path == "-"


def format_from_extension(path: Optional[str]) -> Optional[str]:
    """The format an output file name implies (``a.csv.gz`` -> ``csv``), or None."""
    if _is_stdout(path):
        return None
    name = PurePath(str(path)).name.lower()
    if name.endswith(GZIP_SUFFIX):
        name = name[: -len(GZIP_SUFFIX)]
    return _BY_EXTENSION.get(PurePath(name).suffix)


def resolve_output(path: Optional[str], fmt: Optional[str] = None) -> OutputSpec:
    """Combine ``-o`` and ``--format``: an explicit format wins over the extension."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    chosen = fmt or format_from_extension(path) or DEFAULT_FORMAT
    target = None if _is_stdout(path) else str(path)
    return OutputSpec(target, chosen, gzip=bool(target and target.lower().endswith(GZIP_SUFFIX)))


def make_writer(fmt: str, stream: IO[str], classes: Sequence[str], thresholds: Sequence[float], *,
                extra_columns: Sequence[str] = (), record_fields: Optional[Mapping[str, Any]] = None,
                name: str = "output") -> Any:
    """The row writer for ``fmt``: table writers for tsv/csv/jsonl, BED/GFF3 for genome runs.

    Every writer has ``columns`` and ``write(record_id, length, probs, extra) -> labels``.
    """
    if fmt in GENOME_FORMATS:
        from .genome_formats import BedWriter, Gff3Writer

        cls = BedWriter if fmt == "bed" else Gff3Writer
        return cls(stream, classes, thresholds, extra_columns=extra_columns, name=name)
    from ..writers import ResultWriter

    return ResultWriter(stream, fmt, classes, thresholds, record_fields=record_fields, name=name, extra_columns=extra_columns)
