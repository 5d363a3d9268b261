"""Result writers (tsv, csv, jsonl) and atomic output files.

Output is written to a temporary file in the target's directory and renamed over the
target only after the last row: a crash, a bad record, a full disk or a signal never leaves
a partial file that a pipeline could mistake for a result (an existing file is left as it
was). Special files (/dev/stdout, FIFOs, /dev/null) are written in place.

Columns: ``id``, ``length``, one probability per class (the model's class names, in the
model's order), ``labels``: the comma-joined classes whose probability is >= that class's
threshold, or ``-`` when no class reaches its threshold (tsv/csv; an empty list in jsonl).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator, List, Optional, Sequence

import numpy as np

from .errors import OutputError, output_error

FORMATS = ("tsv", "csv", "jsonl")
NO_LABEL = "-"
PROB_DECIMALS = 4


def predicted_labels(probs: np.ndarray, classes: Sequence[str], thresholds: Sequence[float]) -> List[str]:
    """Classes whose probability reaches their own threshold, in model order."""
    return [name for name, p, t in zip(classes, probs, thresholds) if p >= t]


def header_comment(version: str, model_name: str, model_version: str) -> str:
    return f"# rnaloc-infer {version} model={model_name} model_version={model_version}"


class ResultWriter:
    """Formats rows for one output stream; all write errors become OutputError."""

    def __init__(
        self,
        stream: IO[str],
        fmt: str,
        classes: Sequence[str],
        thresholds: Sequence[float],
        *,
        comment: Optional[str] = None,
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
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if fmt != "jsonl":
            columns = ["id", "length", *self._classes, "labels", *self._extra_columns]
            lines = ([comment] if comment else []) + ([] if self._csv else ["\t".join(columns)])
            self._write("".join(line + "\n" for line in lines))
            if self._csv is not None:
                self._guard(self._csv.writerow, columns)

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def _write(self, text: str) -> None:
        self._guard(self._stream.write, text)

    def write(self, record_id: str, length: int, probs: np.ndarray, extra: Sequence[str] = ()) -> None:
        if len(extra) != len(self._extra_columns):
            raise ValueError(f"expected {len(self._extra_columns)} extra values, got {len(extra)}")
        labels = predicted_labels(probs, self._classes, self._thresholds)
        if self._fmt == "jsonl":
            row = {
                "id": record_id,
                "length": int(length),
                "probabilities": {c: round(float(p), 6) for c, p in zip(self._classes, probs)},
                "labels": labels,
            }
            row.update(zip(self._extra_columns, extra))
            self._write(json.dumps(row, ensure_ascii=False) + "\n")
            return
        values = [f"{float(p):.{PROB_DECIMALS}f}" for p in probs]
        label_text = ",".join(labels) or NO_LABEL
        if self._csv is not None:
            self._guard(self._csv.writerow, [record_id, length, *values, label_text, *extra])
        else:
            self._write("\t".join([record_id, str(length), *values, label_text, *extra]) + "\n")


def _is_special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:  # missing, or a parent is not a directory: mkstemp reports it
        return False


@contextlib.contextmanager
def atomic_output(path: Optional[str], *, encoding: str = "utf-8") -> Iterator[IO[str]]:
    """Yield a text stream whose content appears at ``path`` only if the block succeeds.

    ``None`` or "-" means standard output (flushed at the end; errors such as a full disk
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
        with io.open(fd, "w", encoding=encoding, newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
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

    def write(self, source: str, number: int, record_id: str, problem: str) -> None:
        fields = [source, str(number), record_id or "-", problem]
        self._write("\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields) + "\n")
