"""Click glue for the file-safety layer (:mod:`rnaloc_infer.output.files`) shared by
`rnaloc-export`, `rnaloc-train` and its subcommands.

:func:`rnaloc_infer.output.files.check_paths` makes the checks (an output is never an input,
an existing output is replaced only with ``--force``, its directory is writable); here its
errors become one click error line, raised before any work: exit 2 for a refused output (as
a usage error), 3 for an output that cannot be written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import click

from rnaloc_infer.errors import EXIT_OUTPUT, EXIT_USAGE, OutputError, OverwriteError
from rnaloc_infer.output.files import Named, check_writable, refuse_existing, refuse_overwrite

FORCE_HELP = "Replace output files that already exist (never an input)."


class RefusedOutput(click.ClickException):
    """Printed as one `Error: ...` line; exit 2 like a usage error."""

    exit_code = EXIT_USAGE


class UnwritableOutput(click.ClickException):
    """Printed as one `Error: ...` line; exit 3 like every other unwritable output."""

    exit_code = EXIT_OUTPUT


def refuse(outputs: Sequence[Named], inputs: Sequence[Named]) -> None:
    """Stop with RefusedOutput when an output is one of the inputs (or another output).
    For outputs a command rewrites by design (a resumed run, metadata refitted in place)."""
    try:
        refuse_overwrite(outputs, inputs)
    except OverwriteError as exc:
        raise RefusedOutput(str(exc)) from None


def check(outputs: Sequence[Named], inputs: Sequence[Named], force: Optional[bool]) -> None:
    """The one rule of every file a training or export command writes, before any work: never
    an input, never an existing file unless ``force`` (None: no such rule), a writable place.

    These commands create their output folders (a run directory, ``-o DIR``): an output whose
    folder does not exist yet is checked at the nearest folder that does."""
    named = [(kind, path) for kind, path in outputs if path is not None]
    try:
        refuse_overwrite(named, inputs)
        if force is not None:
            refuse_existing(named, force)
        check_writable([(kind, path) for kind, path in named if _parent(path).is_dir()])
        for kind, path in named:
            if not _parent(path).is_dir():
                _check_creatable(kind, Path(path))
    except OverwriteError as exc:
        raise RefusedOutput(str(exc)) from None
    except OutputError as exc:
        raise UnwritableOutput(str(exc)) from None


def _parent(path) -> Path:
    parent = Path(path).parent
    return parent if str(parent) else Path(".")


def _check_creatable(kind: str, target: Path) -> None:
    """OutputError unless the nearest existing ancestor of ``target``'s folder is a writable folder."""
    ancestor = _parent(target)
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot write {kind} {target}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {kind} {target}: directory {ancestor} is not writable")
