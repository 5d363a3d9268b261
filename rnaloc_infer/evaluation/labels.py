"""The one reader of labels TSVs, for training and evaluation alike.

Why strict (non-0/1 values and duplicate ids are errors, not warnings): a silently
mis-parsed label column, or one id labelled twice, would change every figure and every
trained model downstream without a trace. Why one module: training (``read_split``),
``rnaloc-train evaluate`` and the report must line labels up with records the same way.

The format is the data set's: a header row with ``id`` and one 0/1 column per class name
(other columns such as ``gene_id`` are ignored). Errors are one line naming the file and
line (:class:`~rnaloc_infer.errors.InputError`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from rnaloc_infer.errors import InputError, RnalocError

# How many example ids an error message names.
_EXAMPLES = 5


class LabelMatchError(RnalocError):
    """Predicted records and labels do not cover the same ids (one-line message)."""


@dataclass
class Labels:
    """0/1 labels of one TSV: ``y[i, j]`` is record ``ids[i]``, class ``classes[j]``."""

    ids: List[str]
    classes: List[str]
    y: np.ndarray


def _examples(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_EXAMPLES])
    return shown + (", ..." if len(ids) > _EXAMPLES else "")


def read_labels(path: str | Path, classes: Optional[Sequence[str]] = None) -> Labels:
    """Read a labels TSV; ``classes`` picks and orders the columns (default: all but id/gene_*).

    Raises :class:`InputError` naming the file for a missing column, a duplicate id or a
    value other than 0/1, because a silently mis-parsed label column would make every
    figure downstream meaningless.
    """
    path = Path(path)
    source = str(path)
    try:
        fh = open(path, newline="")
    except OSError as exc:
        raise InputError(source, f"cannot read labels: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader, None)
        if not header or "id" not in header:
            raise InputError(source, "labels TSV needs a header row with an 'id' column")
        if classes is None:
            classes = [h for h in header if h not in ("id", "gene_id", "gene_name")]
        missing = [c for c in classes if c not in header]
        if missing:
            raise InputError(source, f"no column for class(es) {', '.join(missing)} (header: {', '.join(header)})")
        id_col = header.index("id")
        cols = [header.index(c) for c in classes]
        ids: List[str] = []
        rows: List[List[int]] = []
        seen: set = set()
        for line_no, row in enumerate(reader, start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < len(header):
                raise InputError(source, f"line {line_no}: {len(row)} fields, header has {len(header)}")
            rid = row[id_col]
            if rid in seen:
                raise InputError(source, f"line {line_no}: duplicate id {rid!r}")
            seen.add(rid)
            bad = [(classes[k], row[c]) for k, c in enumerate(cols) if row[c].strip() not in ("0", "1")]
            if bad:
                name, value = bad[0]
                raise InputError(source, f"line {line_no}: {name} is {value!r}; labels must be 0 or 1", record=rid)
            ids.append(rid)
            rows.append([int(row[c]) for c in cols])
    y = np.asarray(rows, dtype=np.int8).reshape(len(rows), len(classes))
    return Labels(ids=ids, classes=list(classes), y=y)


def match_labels(pred_ids: Sequence[str], labels: Labels, *, pred_source: str = "predictions",
                 label_source: str = "labels") -> np.ndarray:
    """Return ``labels.y`` reordered to ``pred_ids``; both sides must hold exactly the same ids.

    Why strict both ways: a record without labels cannot be scored, and a labelled record
    without a prediction usually means the wrong FASTA (e.g. train vs valid) - either way
    the figures would describe a different set than the user thinks.
    """
    dup = _duplicates(pred_ids)
    if dup:
        raise LabelMatchError(f"{pred_source}: {len(dup)} duplicate id(s): {_examples(dup)}")
    index = {rid: i for i, rid in enumerate(labels.ids)}
    pred_set = set(pred_ids)
    no_label = [rid for rid in pred_ids if rid not in index]
    no_pred = [rid for rid in labels.ids if rid not in pred_set]
    problems = []
    if no_label:
        problems.append(f"{len(no_label)} id(s) in {pred_source} missing from {label_source}: {_examples(no_label)}")
    if no_pred:
        problems.append(f"{len(no_pred)} id(s) in {label_source} missing from {pred_source}: {_examples(no_pred)}")
    if problems:
        raise LabelMatchError("; ".join(problems))
    return labels.y[[index[rid] for rid in pred_ids]]


def _duplicates(ids: Sequence[str]) -> List[str]:
    seen: set = set()
    dup: List[str] = []
    for rid in ids:
        if rid in seen and rid not in dup:
            dup.append(rid)
        seen.add(rid)
    return dup
