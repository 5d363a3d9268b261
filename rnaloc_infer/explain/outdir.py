"""Where ``rnaloc-explain`` writes, and what it refuses to touch, all decided before any work.

The promises (docs/EXPLAIN.md, "Where the files go"):

* explain never deletes or replaces anything it did not create in this run: an existing
  ``OUT_DIR/<name>`` is refused (exit 2) unless ``--force``, and even then only the files
  explain itself writes there are replaced (each atomically); other files stay;
* no input (FASTA, genome and its index, annotation, id lists, model and its companion,
  standard input) is ever written or lies inside a directory explain writes into;
* a file or symbolic link where a directory must go, or an OUT_DIR that cannot be written,
  is a one-line error with exit 3, found before the model runs.

Record ids become directory names through :mod:`.dirnames`; the mapping is kept in
``OUT_DIR/index.tsv``, which a later run into the same OUT_DIR reads and extends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import OutputError, OverwriteError
from ..output.files import STREAM, Named, atomic_write_text, is_special, refuse_overwrite
from .dirnames import INDEX_NAME, directory_names, format_index, parse_index


@dataclass(frozen=True)
class OutputPlan:
    """The checked layout of one run: OUT_DIR, each record's directory, the index."""

    out_dir: Path
    names: Dict[str, str]  # this run's record ids -> directory names
    recorded: Dict[str, str] = field(default_factory=dict)  # rows of the index found in OUT_DIR (kept)
    existing: FrozenSet[str] = frozenset()  # ids whose directory exists already (written into: --force)

    @property
    def index(self) -> Path:
        return self.out_dir / INDEX_NAME

    def folder(self, record_id: str) -> Path:
        return self.out_dir / self.names[record_id]

    def write_index(self, done: Iterable[str]) -> None:
        """Write ``index.tsv`` atomically: the rows found at the start whose directory is still
        there, then the records of this run finished so far (``done``)."""
        rows = {record_id: name for record_id, name in self.recorded.items() if os.path.lexists(self.out_dir / name)}
        rows.update((record_id, self.names[record_id]) for record_id in done)
        atomic_write_text(self.index, format_index(rows))


def _where(path: Path, record_id: Optional[str]) -> str:
    return f"{path} (record {record_id!r})" if record_id is not None else str(path)


def _check_out_dir(out_dir: Path) -> None:
    """OUT_DIR is a writable directory, or can be created (exit 3 otherwise)."""
    if os.path.lexists(out_dir) and not out_dir.is_dir():
        raise OutputError(f"cannot write into {out_dir}: it exists and is not a directory")
    if out_dir.is_dir():
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write into {out_dir}: directory is not writable")
        return
    parent = next((p for p in out_dir.parents if os.path.lexists(p)), Path("."))
    if not parent.is_dir():
        raise OutputError(f"cannot create {out_dir}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot create {out_dir}: directory {parent} is not writable")


def _read_index(path: Path, force: bool) -> Dict[str, str]:
    """The rows of an existing index; a file by that name that explain did not write is
    refused (exit 2) unless ``force``, which replaces it."""
    if not os.path.lexists(path):
        return {}
    if path.is_dir() or is_special(path):
        raise OutputError(f"cannot write {path}: it exists and is not a regular file")
    try:
        rows = parse_index(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        rows = None
    if rows is not None:
        return rows
    if not force:
        raise OverwriteError(f"refusing to replace {path}: it is not an rnaloc-explain index "
                             "(use --force to replace it); nothing was written")
    return {}


def _obstacle(path: Path, record_id: Optional[str]) -> None:
    """Exit 3 for anything but a real writable directory (or nothing) where one must go."""
    if os.path.islink(path):
        raise OutputError(f"cannot write into {_where(path, record_id)}: it is a symbolic link "
                          "(explain writes only into real directories); move it away or choose another -o")
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(f"cannot write into {_where(path, record_id)}: a file is in the way (not a directory); "
                          "move it away or choose another -o")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {_where(path, record_id)}: directory is not writable")


def _input_locations(inputs: Sequence[Named]) -> List[Tuple[str, str, str]]:
    """(kind, shown path, real path) of each input that is a file on disk."""
    found = []
    for kind, path in inputs:
        if path is None or os.fspath(path) == STREAM or is_special(path) or not os.path.exists(path):
            continue
        found.append((kind, os.fspath(path), os.path.realpath(path)))
    return found


def plan_outputs(out_dir: os.PathLike, ids: Sequence[str], *, force: bool, inputs: Sequence[Named]) -> OutputPlan:
    """Check OUT_DIR and every record's directory before any work; returns the plan.

    Raises :class:`OutputError` (exit 3) for an obstacle and :class:`OverwriteError`
    (exit 2) for a directory that exists without ``force``, or that holds an input.
    """
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    recorded = _read_index(out_dir / INDEX_NAME, force)
    names = directory_names(ids, recorded)
    locations = _input_locations(inputs)
    existing = set()
    for record_id in ids:
        target = out_dir / names[record_id]
        _obstacle(target, record_id)
        if not target.is_dir():
            continue
        real = os.path.realpath(target)
        for kind, shown, where in locations:
            if os.path.commonpath([where, real]) == real:
                raise OverwriteError(f"refusing to write into {_where(target, record_id)}: the {kind} {shown} "
                                     "lies inside it; choose another -o; nothing was written")
        if not force:
            raise OverwriteError(f"refusing to write into the existing directory {_where(target, record_id)} "
                                 "(use --force to replace explain's files in it; other files are kept); "
                                 "nothing was written")
        existing.add(record_id)
    return OutputPlan(out_dir, names, recorded, frozenset(existing))


def check_files(plan: OutputPlan, files: Mapping[str, Sequence[str]], inputs: Sequence[Named]) -> None:
    """The files each record's directory will get (``files``: id -> relative paths), checked
    once the model's classes are known: no directory or link in the way of a file or a
    subdirectory (exit 3), and no file that is an input (exit 2, same file by inode)."""
    outputs: List[Named] = [("index", plan.index)]
    for record_id, relative in files.items():
        folder = plan.folder(record_id)
        for name in relative:
            path = folder / name
            if record_id in plan.existing:
                below = folder
                for part in Path(name).parts[:-1]:
                    below = below / part
                    _obstacle(below, record_id)
                if path.is_dir():
                    raise OutputError(f"cannot write {_where(path, record_id)}: a directory is in the way")
            outputs.append(("output", path))
    refuse_overwrite(outputs, inputs)
