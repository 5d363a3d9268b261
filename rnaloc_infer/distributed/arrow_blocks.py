"""Arrow tables for distributed prediction: record blocks in, result blocks out.

Why Arrow: Ray Data moves blocks between machines as Arrow tables (zero-copy, no pickling of
Python objects per record), and Parquet, the shard format, is Arrow on disk. This module is
the only place that knows the column layout, so the reader, the model actors and the merge
agree on it:

record block  ``file_index, record_number, source, id, codes (binary uint8), ambiguous, problem``
result block  ``file_index, record_number, source, id, length, problem, <class>..., labels, applicability``
              (+ ``level, rel_<class>...`` with ``--profile``; + ``model_precision, model_loaded``:
              which file the actor ran, for the sidecar)

``(file_index, record_number)`` is the global record index: position of the file in the
input list and 1-based record number in that file, the same numbering as the single-process
runtime. ``problem`` is null for a good record and the runtime's message for a bad one
(then ``codes``, ``length`` and the probabilities are null).
"""

from __future__ import annotations

from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import pyarrow as pa

from ..applicability import flag_text, parse_flag_text
from ..batching import Item, Scored
from ..fasta import Record, RecordError
from ..output.run import row_policy
from ..output.tables import label_text, predicted_labels
from ..profile import ProfileRow, profile_columns

RESERVED = frozenset(("file_index", "record_number", "source", "id", "codes", "ambiguous", "length", "problem", "labels",
                      "applicability", "level", "model_precision", "model_loaded"))


def records_to_table(items: Sequence[Item], file_index: int) -> pa.Table:
    """A record block: sequences travel as their uint8 codes (one byte per nucleotide)."""
    good = [isinstance(item, Record) for item in items]
    return pa.table({
        "file_index": pa.array([file_index] * len(items), type=pa.int32()),
        "record_number": pa.array([item.number for item in items], type=pa.int64()),
        "source": pa.array([item.source for item in items], type=pa.string()),
        "id": pa.array([item.id for item in items], type=pa.string()),
        "codes": pa.array([item.codes.tobytes() if ok else None for item, ok in zip(items, good)], type=pa.binary()),  # type: ignore[union-attr]
        "ambiguous": pa.array([item.ambiguous if ok else 0 for item, ok in zip(items, good)], type=pa.int64()),  # type: ignore[union-attr]
        "problem": pa.array([None if ok else item.problem for item, ok in zip(items, good)], type=pa.string()),  # type: ignore[union-attr]
    })


def table_to_records(table: pa.Table) -> List[Item]:
    """Inverse of records_to_table (the header is not carried: writers do not use it)."""
    columns = {name: table.column(name).to_pylist() for name in ("record_number", "source", "id", "codes", "problem", "ambiguous")}
    items: List[Item] = []
    for number, source, rec_id, codes, problem, ambiguous in zip(*columns.values()):
        if problem is None:
            items.append(Record(rec_id, rec_id, np.frombuffer(codes, dtype=np.uint8), source, number, ambiguous))
        else:
            items.append(RecordError(source, number, rec_id, problem))
    return items


def check_classes(classes: Sequence[str]) -> None:
    """Class names become column names; refuse the few that would clash with bookkeeping."""
    clash = sorted(set(classes) & RESERVED)
    if clash:
        raise ValueError(f"class names {clash} clash with result columns; rename the classes to use the Ray engine")


def results_to_table(
    scored: Iterable[Union[Scored, RecordError]], file_indices: Sequence[int], classes: Sequence[str], thresholds: Sequence[float],
    *, prevalence: Optional[Sequence[float]] = None, model_file: Tuple[str, str] = ("fp32", ""),
) -> pa.Table:
    """A result block, rows in the order given (the block's input order). ``labels`` as the
    table writes them by default (``NA`` for a record outside the model's range); with
    ``prevalence`` also the relative profile columns; ``model_file``: (precision, path) the
    actor ran."""
    rows = list(scored)
    bad = np.array([isinstance(row, RecordError) for row in rows], dtype=bool)
    probs = np.zeros((len(rows), len(classes)), dtype=np.float32)
    labels: List[Union[str, None]] = []
    for i, row in enumerate(rows):
        if isinstance(row, Scored):
            probs[i] = row.probs
            # the default out-of-range rule (NA for a flagged record), the run path's own
            called = predicted_labels(row.probs, classes, thresholds) if row_policy(row.applicability, "keep")[1] else None
            labels.append(label_text(called))
        else:
            labels.append(None)
    columns = {
        "file_index": pa.array(file_indices, type=pa.int32()),
        "record_number": pa.array([row.number for row in rows], type=pa.int64()),
        "source": pa.array([row.source for row in rows], type=pa.string()),
        "id": pa.array([row.id for row in rows], type=pa.string()),
        "length": pa.array([row.length if isinstance(row, Scored) else None for row in rows], type=pa.int64()),
        "problem": pa.array([row.problem if isinstance(row, RecordError) else None for row in rows], type=pa.string()),
    }
    for j, name in enumerate(classes):
        columns[name] = pa.array(probs[:, j], type=pa.float32(), mask=bad)
    columns["labels"] = pa.array(labels, type=pa.string())
    columns["applicability"] = pa.array([flag_text(row.applicability) if isinstance(row, Scored) else None for row in rows],
                                        type=pa.string())
    if prevalence is not None:
        profile = ProfileRow(prevalence)
        values = np.array([profile(p) for p in probs], dtype=np.float64).reshape(len(rows), len(classes) + 1)
        for j, name in enumerate(profile_columns(classes)):
            columns[name] = pa.array(values[:, j], type=pa.float64(), mask=bad)
    columns["model_precision"] = pa.array([model_file[0]] * len(rows), type=pa.string())
    columns["model_loaded"] = pa.array([model_file[1]] * len(rows), type=pa.string())
    return pa.table(columns)


def table_model_file(table: pa.Table) -> dict:
    """Which file the actor that scored this block ran: the model identity's ``precision``
    and ``loaded`` (empty for an empty block)."""
    if table.num_rows == 0 or "model_precision" not in table.column_names:
        return {}
    return {"precision": table.column("model_precision")[0].as_py(), "loaded": table.column("model_loaded")[0].as_py()}


def iter_results(table: pa.Table, classes: Sequence[str]) -> Iterator[Tuple[int, Union[Scored, RecordError]]]:
    """Rows of a result block back as (file index, the runtime's Scored / RecordError item)."""
    if table.num_rows == 0:
        return
    files = table.column("file_index").to_pylist()
    numbers = table.column("record_number").to_pylist()
    sources = table.column("source").to_pylist()
    ids = table.column("id").to_pylist()
    lengths = table.column("length").to_pylist()
    problems = table.column("problem").to_pylist()
    flags = table.column("applicability").to_pylist()
    probs = np.column_stack([table.column(name).to_numpy(zero_copy_only=False) for name in classes]).astype(np.float32, copy=False)
    for i, problem in enumerate(problems):
        if problem is None:
            yield files[i], Scored(ids[i], ids[i], lengths[i], sources[i], numbers[i], probs[i], parse_flag_text(flags[i]))
        else:
            yield files[i], RecordError(sources[i], numbers[i], ids[i], problem)
