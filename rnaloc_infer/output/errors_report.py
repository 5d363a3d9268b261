"""The errors report: records skipped with ``--on-error skip``, counted, named, listed in a TSV.

Why one module: the local run and the Ray engine must report bad records identically (same
warnings, same errors file), whichever process found them. The errors file is written
whenever it is asked for, also when every record was bad (exit 5): that is when a
pipeline needs it most.
"""

from __future__ import annotations

import contextlib
import csv
import logging
from typing import IO, Optional

from ..errors import output_error
from ..fasta import RecordError
from .files import atomic_output

log = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 20  # skipped records named one by one on stderr; the rest only in the errors file


class ErrorWriter:
    """TSV of skipped records (--errors-file): source, record number, id, problem (quoted
    like the results table when a field needs it)."""

    COLUMNS = ("source", "record_number", "id", "problem")

    def __init__(self, stream: IO[str], name: str = "errors file"):
        self._name = name
        self._csv = csv.writer(stream, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        self._write(self.COLUMNS)

    def _write(self, row) -> None:
        try:
            self._csv.writerow(row)
        except OSError as exc:
            raise output_error(self._name, exc) from None

    def write(self, error: RecordError) -> None:
        self._write([error.source, str(error.number), error.id or "-", error.problem])


class SkipReport:
    """Records skipped: counted, the first few logged, all in the errors file when one is named."""

    def __init__(self, errors: Optional[ErrorWriter] = None, *, errors_file: Optional[str] = None):
        self._errors = errors
        self._errors_file = errors_file
        self.count = 0

    @classmethod
    def to_file(cls, stack: contextlib.ExitStack, errors_file: Optional[str]) -> "SkipReport":
        """A report whose errors file (when one is named) appears atomically as ``stack`` closes
        without an exception, or when the exception is :class:`~rnaloc_infer.errors.NoResults`."""
        if not errors_file:
            return cls()
        stream = stack.enter_context(_kept_on_no_results(errors_file))
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


@contextlib.contextmanager
def _kept_on_no_results(path: str):
    """atomic_output, but a run that ends in NoResults still publishes the errors file."""
    from ..errors import NoResults

    pending: list = []
    with atomic_output(path, name=f"errors file {path}") as stream:
        try:
            yield stream
        except NoResults as exc:
            pending.append(exc)  # leave the block normally: the file is renamed into place
    if pending:
        raise pending[0]
