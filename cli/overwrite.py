"""Click glue for the overwrite guard shared by `rnaloc-export`, `rnaloc-train` and its subcommands.

`rnaloc_infer.output.files.refuse_overwrite` does the comparison (device + inode); here its
error becomes a one-line click error with exit status 2, raised before any work.
"""

from __future__ import annotations

from typing import Sequence

import click

from rnaloc_infer.errors import EXIT_USAGE, OverwriteError
from rnaloc_infer.output.files import Named, refuse_overwrite


class RefusedOutput(click.ClickException):
    """Printed as one `Error: ...` line; exit 2 like a usage error."""

    exit_code = EXIT_USAGE


def refuse(outputs: Sequence[Named], inputs: Sequence[Named]) -> None:
    """Stop with RefusedOutput when an output is one of the inputs (or another output)."""
    try:
        refuse_overwrite(outputs, inputs)
    except OverwriteError as exc:
        raise RefusedOutput(str(exc)) from None
