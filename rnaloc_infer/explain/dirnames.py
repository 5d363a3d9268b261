"""Record id -> directory name under ``rnaloc-explain``'s OUT_DIR, and the index that records it.

Why a mapping at all: a FASTA id is any run of non-blank characters (``x/y``, ``..``,
``.hidden``, ``data``, control characters, 10,000 characters), and on a case-insensitive
file system ``ABC`` and ``abc`` are one directory. Written naively, ``x/y`` and ``x_y``
land in the same place and one explanation silently replaces the other. So every id gets a
name that is

* safe: only ``A-Z a-z 0-9 . _ -``, no leading ``.`` or ``-`` (no hidden directory, nothing
  read as an option), no trailing ``.``, at most :data:`MAX_NAME` characters, never a
  Windows device name, never ``index.tsv`` nor the run's table ``predictions.tsv`` (and its
  sidecar ``predictions.tsv.json``);
* unique, case-insensitively, among this run's ids and the names an earlier run recorded
  in the same OUT_DIR;
* deterministic: an id that is already a safe name keeps it; any other id (changed by the
  rules above) gets ``.<first 8 hex of SHA-256(id)>`` appended, so ``x/y`` -> ``x_y.0f3a…``
  whatever else is in the run; a clash that remains (``ABC`` next to ``abc``) is settled in
  sorted order, the later id getting the hash suffix (then ``.2``, ``.3``, ... should even
  that clash).

The mapping is written to ``OUT_DIR/index.tsv`` (:data:`INDEX_HEADER`, then one
``id<TAB>directory`` row per explained record) and read back by the next run into the same
OUT_DIR, so an id keeps its directory across runs.
"""

from __future__ import annotations

import hashlib
import re
from typing import Dict, Iterable, Mapping, Optional

INDEX_NAME = "index.tsv"
INDEX_HEADER = "record_id\tdirectory"
TABLE_NAME = "predictions.tsv"  # the run's table (output.run: rnaloc-infer's columns), and its sidecar
RESERVED = frozenset({INDEX_NAME, TABLE_NAME, TABLE_NAME + ".json"})
MAX_NAME = 100
HASH_HEX = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def id_hash(record_id: str) -> str:
    """The short, stable suffix that tells apart ids whose safe names clash."""
    return hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_HEX]


def is_safe_name(name: str) -> bool:
    """True for a name this module could have produced (used to validate a read index)."""
    return (bool(_SAFE.fullmatch(name)) and not name.endswith(".") and len(name) <= MAX_NAME + 2 * HASH_HEX
            and name.casefold() not in RESERVED and name.split(".")[0].upper() not in _WINDOWS_DEVICES)


def base_name(record_id: str) -> str:
    """The id with every unsafe run of characters turned into ``_`` and the ends trimmed
    (may differ from the id: then :func:`directory_names` adds the hash suffix)."""
    name = _UNSAFE.sub("_", record_id).lstrip(".-").rstrip(".")[:MAX_NAME].rstrip(".") or "record"
    if name.split(".")[0].upper() in _WINDOWS_DEVICES:
        name = "_" + name
    return name


def directory_names(ids: Iterable[str], recorded: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """A unique safe directory name for every id (see the module docstring).

    ``recorded``: id -> name from an earlier run's index in the same OUT_DIR: those ids keep
    their names and every recorded name is taken for the others. The result does not depend
    on the order of ``ids``.
    """
    recorded = dict(recorded or {})
    wanted = sorted(set(ids))
    names = {i: recorded[i] for i in wanted if i in recorded}
    taken = set(RESERVED) | {name.casefold() for name in recorded.values()}
    fresh = [i for i in wanted if i not in names]
    clean = [i for i in fresh if base_name(i) == i]  # settled first: an id that is a safe name keeps it if it can
    for record_id in clean + [i for i in fresh if base_name(i) != i]:
        base = base_name(record_id)
        candidates = ([base] if base == record_id else []) + [f"{base}.{id_hash(record_id)}"]
        name = next((c for c in candidates if c.casefold() not in taken), None)
        number = 2
        while name is None:
            candidate = f"{base}.{id_hash(record_id)}.{number}"
            name = candidate if candidate.casefold() not in taken else None
            number += 1
        taken.add(name.casefold())
        names[record_id] = name
    return names


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {value: key for key, value in _ESCAPES.items()}


def _escape(record_id: str) -> str:
    return "".join(_ESCAPES.get(char, char) for char in record_id)


def _unescape(field: str) -> Optional[str]:
    """The id back from its escaped column; None for a stray backslash (not our file)."""
    parts = re.split(r"(\\.?)", field, flags=re.S)
    out = []
    for part in parts:
        if part.startswith("\\"):
            if part not in _UNESCAPES:
                return None
            part = _UNESCAPES[part]
        out.append(part)
    return "".join(out)


def parse_index(text: str) -> Optional[Dict[str, str]]:
    """id -> directory from an index's text; None when it is not one this tool wrote (wrong
    header, a malformed row, an unsafe or repeated name): such a file is not ours to update."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != INDEX_HEADER:
        return None
    rows: Dict[str, str] = {}
    seen = set()
    for line in lines[1:]:
        fields = line.split("\t")
        record_id = _unescape(fields[0]) if len(fields) == 2 else None
        if not record_id or record_id in rows or not is_safe_name(fields[1]):
            return None
        if fields[1].casefold() in seen:
            return None
        seen.add(fields[1].casefold())
        rows[record_id] = fields[1]
    return rows


def format_index(rows: Mapping[str, str]) -> str:
    """The index's text: the header, then one ``id<TAB>directory`` row each, in the given order
    (a backslash, tab, newline or carriage return in an id written as ``\\\\``, ``\\t``, ``\\n``, ``\\r``:
    annotation ids are quoted strings and may hold them)."""
    return "".join([INDEX_HEADER + "\n"] + [f"{_escape(record_id)}\t{name}\n" for record_id, name in rows.items()])
