"""Result writers (tsv, csv, jsonl) and atomic output files.

Tables start with one plain header line (no comment lines), so pandas, R's ``read.delim``,
csvkit and DuckDB read them with their defaults; the run's metadata (tool and model
version, model sha256, thresholds, options, counts) goes to a JSON sidecar
(:mod:`rnaloc_infer.output.sidecar`) and, in JSONL, into fields of every record
(``record_fields``). BED and GFF3 writers live in :mod:`rnaloc_infer.output.genome_formats`.

Output is written to a temporary file in the target's directory and renamed over the
target only after the last row: a crash, a bad record, a full disk or a signal never leaves
a partial file that a pipeline could mistake for a result (an existing file is left as it
was). Special files (/dev/stdout, FIFOs, /dev/null) are written in place.

Columns: ``id``, ``length``, one probability per class (the model's class names, in the
model's order), ``labels``: the comma-joined classes whose probability is >= that class's
threshold, or ``-`` when no class reaches its threshold (tsv/csv; an empty list in jsonl);
``applicability``: ``ok`` or the record's flags (rnaloc_infer.applicability), ``-`` for a
model without rules. The header goes out with the first row, not before.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .applicability import flag_text
from .errors import OutputError, OverwriteError, output_error
from .fasta import RecordError

log = logging.getLogger(__name__)

FORMATS = ("tsv", "csv", "jsonl")
NO_LABEL = "-"
PROB_DECIMALS = 4
MAX_ERRORS_SHOWN = 20  # skipped records named one by one on stderr; the rest only in the errors file


def cell_text(value: Any) -> str:
    """An extra column's value as table text: floats with the probabilities' fixed 4 decimals
    (so a column reads evenly: 0.1000, not 0.1), anything else as str()."""
    return f"{value:.{PROB_DECIMALS}f}" if isinstance(value, float) else str(value)


def predicted_labels(probs: np.ndarray, classes: Sequence[str], thresholds: Sequence[float]) -> List[str]:
    """Classes whose probability reaches their own threshold, in model order."""
    return [name for name, p, t in zip(classes, probs, thresholds) if p >= t]


class ResultWriter:
    """Formats rows for one output stream; all write errors become OutputError."""

    def __init__(
        self,
        stream: IO[str],
        fmt: str,
        classes: Sequence[str],
        thresholds: Sequence[float],
        *,
        record_fields: Optional[Mapping[str, Any]] = None,
        name: str = "output",
        extra_columns: Sequence[str] = (),
    ):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
        self._stream = stream
        self._fmt = fmt
        self._classes = list(classes)
        self._thresholds = list(thresholds)
        self._name = name
        # Per-record columns from the input (e.g. transcript_id, gene_name with --annotation),
        # appended after "labels" so the class columns keep their positions.
        self._extra_columns = list(extra_columns)
        # JSONL only: run-level fields repeated in every record (model name and sha256), so
        # a record keeps its provenance after files are concatenated or filtered.
        self._record_fields = dict(record_fields or {})
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        self.columns = ["id", "length", *self._classes, "labels", "applicability", *self._extra_columns]
        self._header_written = False

    def _write_header(self) -> None:
        """Header lines go out with the first row (or at :meth:`finish`), never before:
        an interrupted run on standard output then leaves either nothing or rows without
        the finishing exit status, not a header that looks like an empty result."""
        self._header_written = True
        if self._fmt == "jsonl":
            return
        if self._csv is not None:
            self._guard(self._csv.writerow, self.columns)
        else:
            self._write("\t".join(self.columns) + "\n")

    def finish(self) -> None:
        """End of a successful run: writes the header when no row came (an empty input)."""
        if not self._header_written:
            self._write_header()

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def _write(self, text: str) -> None:
        self._guard(self._stream.write, text)

    def write(self, record_id: str, length: int, probs: np.ndarray, extra: Sequence[Any] = (),
              applicability: Optional[Sequence[str]] = None) -> List[str]:
        """One row; returns its labels (for the run summary). ``applicability``: the record's
        flags, () when in range, None when the model has no rules (applicability.flag_text)."""
        if len(extra) != len(self._extra_columns):
            raise ValueError(f"expected {len(self._extra_columns)} extra values, got {len(extra)}")
        if not self._header_written:
            self._write_header()
        labels = predicted_labels(probs, self._classes, self._thresholds)
        flags = flag_text(None if applicability is None else tuple(applicability))
        if self._fmt == "jsonl":
            row = {
                "id": record_id,
                "length": int(length),
                "probabilities": {c: round(float(p), 6) for c, p in zip(self._classes, probs)},
                "labels": labels,
                "applicability": flags,
            }
            row.update(zip(self._extra_columns, extra))
            row.update(self._record_fields)
            self._write(json.dumps(row, ensure_ascii=False) + "\n")
            return labels
        values = [f"{float(p):.{PROB_DECIMALS}f}" for p in probs]
        label_text = ",".join(labels) or NO_LABEL
        extra_text = [cell_text(v) for v in extra]
        if self._csv is not None:
            self._guard(self._csv.writerow, [record_id, length, *values, label_text, flags, *extra_text])
        else:
            self._write("\t".join([record_id, str(length), *values, label_text, flags, *extra_text]) + "\n")
        return labels


Named = Tuple[str, Union[str, "os.PathLike[str]", None]]  # (what it is, path); None/"-" = a stream


def _identity(path: Union[str, "os.PathLike[str]"]) -> Tuple:
    """(device, inode) of an existing file, whatever path reaches it (symlink, hard link,
    relative or absolute); the resolved path of one that does not exist yet."""
    try:
        info = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", info.st_dev, info.st_ino)


def refuse_overwrite(outputs: Sequence[Named], inputs: Sequence[Named]) -> None:
    """Raise OverwriteError (exit 2) when an output would replace an input or another output.

    Called by every writing command before any work, so a refused run changes nothing.
    Special files (/dev/null, /dev/stdout, FIFOs) are never refused: writing them replaces
    nothing.
    """
    seen: dict = {}
    for kind, path in inputs:
        if path is not None and os.fspath(path) != "-" and os.path.exists(path):
            seen.setdefault(_identity(path), (kind, path))
    for kind, path in outputs:
        if path is None or os.fspath(path) == "-" or _is_special(Path(path)):
            continue
        other = seen.get(_identity(path))
        if other is not None:
            raise OverwriteError(f"refusing to write {kind} {os.fspath(path)}: it is the same file as the "
                                 f"{other[0]} {os.fspath(other[1])}; nothing was written")
        seen[_identity(path)] = (kind, path)


def _is_special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:  # missing, or a parent is not a directory: mkstemp reports it
        return False


@contextlib.contextmanager
def _text_file(fd: int, encoding: str, compress: bool) -> Iterator[IO[str]]:
    """A text stream over a new file descriptor, gzip-compressed when asked.

    gzip members carry no file name and mtime 0, so the same rows give the same bytes
    (the Ray engine's merged file is compared with the local one byte for byte).
    """
    with io.open(fd, "wb") as raw:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
                with io.TextIOWrapper(packed, encoding=encoding, newline="") as handle:
                    yield handle
        else:
            with io.TextIOWrapper(raw, encoding=encoding, newline="") as handle:
                yield handle
                handle.flush()
                os.fsync(raw.fileno())
                return
        raw.flush()
        os.fsync(raw.fileno())


@contextlib.contextmanager
def atomic_output(path: Optional[str], *, encoding: str = "utf-8", compress: bool = False) -> Iterator[IO[str]]:
    """Yield a text stream whose content appears at ``path`` only if the block succeeds.

    ``compress`` writes gzip (``-o out.tsv.gz``). ``None`` or "-" means standard output (flushed at the end; errors such as a full disk
    or a closed pipe become OutputError). On any exception, KeyboardInterrupt and
    :class:`~rnaloc_infer.errors.Terminated` included, the temporary file is removed and
    the exception propagates.
    """
    if path is None or path == "-":
        stream = sys.stdout
        try:
            yield stream
            stream.flush()
        except OSError as exc:
            raise output_error("standard output", exc) from None
        return
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: is a directory")
    if _is_special(target):  # /dev/null, /dev/full, a FIFO: no rename possible
        try:
            handle = open(target, "w", encoding=encoding, newline="")
        except OSError as exc:
            raise output_error(str(target), exc) from None
        try:
            with handle:
                yield handle
                handle.flush()
        except OSError as exc:
            raise output_error(str(target), exc) from None
        return
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise output_error(str(target), exc) from None
    tmp = Path(tmp_name)
    try:
        with _text_file(fd, encoding, compress) as handle:
            yield handle
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise output_error(str(target), exc) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class ErrorWriter:
    """TSV of skipped records (--errors-file): source, record number, id, problem."""

    COLUMNS = ("source", "record_number", "id", "problem")

    def __init__(self, stream: IO[str], name: str = "errors file"):
        self._stream = stream
        self._name = name
        self._write("\t".join(self.COLUMNS) + "\n")

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def write(self, error: RecordError) -> None:
        fields = [error.source, str(error.number), error.id or "-", error.problem]
        self._write("\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields) + "\n")


class SkipReport:
    """Records skipped with ``--on-error skip``: counted, the first few logged, all in the errors file.

    Why one class: the local run and the Ray engine must report bad records identically
    (same warnings, same errors file), whichever process found them.
    """

    def __init__(self, errors: Optional[ErrorWriter] = None, *, errors_file: Optional[str] = None):
        self._errors = errors
        self._errors_file = errors_file
        self.count = 0

    @classmethod
    def to_file(cls, stack: contextlib.ExitStack, errors_file: Optional[str]) -> "SkipReport":
        """A report whose errors file (when one is named) appears atomically as ``stack`` closes."""
        if not errors_file:
            return cls()
        stream = stack.enter_context(atomic_output(errors_file))
        return cls(ErrorWriter(stream, name=errors_file), errors_file=errors_file)

    def add(self, error: RecordError) -> None:
        self.count += 1
        if self.count <= MAX_ERRORS_SHOWN:
            log.warning("skipped %s", error.message)
        if self._errors is not None:
            self._errors.write(error)

    def finish(self) -> None:
        """Log how many were skipped when more than the ones named one by one."""
        if self.count > MAX_ERRORS_SHOWN:
            log.warning("%d records skipped in total (first %d shown%s)", self.count, MAX_ERRORS_SHOWN,
                        f"; all in {self._errors_file}" if self._errors_file else "; use --errors-file for all")
