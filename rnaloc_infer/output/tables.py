"""Table rows (tsv, csv, jsonl): one row per scored record, header with the first row.

Tables start with one plain header line (no comment lines), so pandas, R's ``read.delim``,
csvkit and DuckDB read them with their defaults. **Quoting rule** (docs/TROUBLESHOOTING.md,
"Reading the table"): TSV and CSV follow RFC 4180 quoting with the format's own delimiter:
a field that contains the delimiter, a double quote, a carriage return or a newline is
enclosed in double quotes, with its quotes doubled. Only ids and annotation fields can
need it (probabilities, labels and flags never do; class names are checked when a model
is loaded). Without this an id such as ``"abc`` made pandas merge rows silently.

Columns: ``id``, ``length``, one probability per class (the model's class names, in the
model's order), ``labels``: the comma-joined classes whose probability is >= that class's
threshold (never a class whose threshold is null: the sidecar's ``unlabelled_classes``),
``-`` when no class reaches its threshold, ``NA`` when the record is outside the model's
training range (its probabilities are kept, but a call is not made: ``--out-of-range
label`` makes it anyway); ``applicability``: ``ok`` or the record's flags, ``-`` for a
model without rules; then extra columns (annotation, profile).
"""

from __future__ import annotations

import csv
import json
from typing import IO, Any, List, Mapping, Optional, Sequence

import numpy as np

from ..applicability import flag_text
from ..errors import output_error

TABLE_FORMATS = ("tsv", "csv", "jsonl")
NO_LABEL = "-"  # in range, but no class reaches its threshold
NO_CALL = "NA"  # outside the model's training range: no labels (read as missing by pandas and R)
PROB_DECIMALS = 4


def cell_text(value: Any) -> str:
    """An extra column's value as table text: floats with the probabilities' fixed 4 decimals
    (so a column reads evenly: 0.1000, not 0.1), anything else as str()."""
    return f"{value:.{PROB_DECIMALS}f}" if isinstance(value, float) else str(value)


def predicted_labels(probs: np.ndarray, classes: Sequence[str], thresholds: Sequence[float]) -> List[str]:
    """Classes whose probability reaches their own threshold, in model order.

    A class without a threshold (JSON null in the model's metadata, +inf in memory:
    modelfile.metadata.NO_LABEL) is never labelled: no probability reaches +inf."""
    return [name for name, p, t in zip(classes, probs, thresholds) if p >= t]


def label_text(labels: Optional[Sequence[str]]) -> str:
    """The labels cell: comma-joined classes, ``-`` for none, ``NA`` when no call was made."""
    if labels is None:
        return NO_CALL
    return ",".join(labels) or NO_LABEL


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
        if fmt not in TABLE_FORMATS:
            raise ValueError(f"format must be one of {TABLE_FORMATS}, got {fmt!r}")
        self._stream = stream
        self._fmt = fmt
        self._classes = list(classes)
        self._thresholds = list(thresholds)
        self._name = name
        # Per-record columns from the input (annotation) and the profile, after "applicability"
        # so the class columns keep their positions.
        self._extra_columns = list(extra_columns)
        # JSONL only: run-level fields repeated in every record (model name and sha256), so
        # a record keeps its provenance after files are concatenated or filtered.
        self._record_fields = dict(record_fields or {})
        delimiter = "," if fmt == "csv" else "\t"
        self._csv = csv.writer(stream, delimiter=delimiter, quotechar='"', quoting=csv.QUOTE_MINIMAL,
                               lineterminator="\n") if fmt != "jsonl" else None
        self.columns = ["id", "length", *self._classes, "labels", "applicability", *self._extra_columns]
        self._header_written = False

    def _write_header(self) -> None:
        """Header lines go out with the first row (or at :meth:`finish`), never before:
        an interrupted run on standard output then leaves either nothing or rows without
        the finishing exit status, not a header that looks like an empty result."""
        self._header_written = True
        if self._csv is not None:
            self._guard(self._csv.writerow, self.columns)

    def finish(self) -> None:
        """End of a successful run: writes the header when no row came (an empty input)."""
        if not self._header_written:
            self._write_header()

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def write(self, record_id: str, length: int, probs: np.ndarray, extra: Sequence[Any] = (),
              applicability: Optional[Sequence[str]] = None, labels: Optional[Sequence[str]] = ()) -> None:
        """One row. ``labels``: the record's labels, None when no call is made (out of range);
        ``applicability``: its flags, () when in range, None when the model has no rules."""
        if len(extra) != len(self._extra_columns):
            raise ValueError(f"expected {len(self._extra_columns)} extra values, got {len(extra)}")
        if not self._header_written:
            self._write_header()
        flags = flag_text(None if applicability is None else tuple(applicability))
        if self._csv is None:
            row = {
                "id": record_id,
                "length": int(length),
                "probabilities": {c: round(float(p), 6) for c, p in zip(self._classes, probs)},
                "labels": None if labels is None else list(labels),
                "applicability": flags,
            }
            row.update(zip(self._extra_columns, extra))
            row.update(self._record_fields)
            self._guard(self._stream.write, json.dumps(row, ensure_ascii=False) + "\n")
            return
        # tolist(): Python floats in one call (float32 -> float64 is exact), not one numpy scalar per class
        values = [f"{p:.{PROB_DECIMALS}f}" for p in np.asarray(probs, dtype=np.float64).tolist()]
        self._guard(self._csv.writerow, [record_id, length, *values, label_text(labels), flags,
                                         *(cell_text(v) for v in extra)])
