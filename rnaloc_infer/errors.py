"""Exceptions and exit codes shared by the runtime, the API and the CLI.

Every error a user can cause (bad input, bad model, unwritable output) is one of these
classes with a one-line message, so the CLI can print it without a traceback and map it to
a documented exit status. docs/TROUBLESHOOTING.md lists the messages.
"""

from __future__ import annotations

from typing import Optional

# Exit statuses of `rnaloc-infer` (documented in the --help epilog and TROUBLESHOOTING.md).
EXIT_OK = 0
EXIT_INPUT = 1  # bad input file/record or bad model
EXIT_USAGE = 2  # bad command line (click's own status)
EXIT_OUTPUT = 3  # the output (or errors file) could not be written
EXIT_NO_RESULTS = 5  # every record was skipped, dropped or filtered: nothing to write
EXIT_BROKEN_PIPE = 141  # standard output closed early (`| head`); quiet, like SIGPIPE (128 + 13)
EXIT_SIGINT = 130  # interrupted by Ctrl-C / SIGINT (128 + 2)
EXIT_SIGTERM = 143  # terminated by SIGTERM (128 + 15)


class RnalocError(Exception):
    """Base class: a user-facing problem with a one-line message."""

    exit_code = EXIT_INPUT


class InputError(RnalocError):
    """An input file, or one record in it, cannot be used.

    ``source`` is the file name ("-" / "<stdin>" for standard input); ``record`` the record
    id, or ``#N`` (its 1-based number in the file) when it has no id yet.
    """

    def __init__(self, source: str, problem: str, record: Optional[str] = None, number: Optional[int] = None):
        self.source = source
        self.problem = problem
        self.record = record
        self.number = number
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.source
        if self.record:
            where += f": record {self.record!r}"
            if self.number is not None:
                where += f" (#{self.number})"
        elif self.number is not None:
            where += f": record #{self.number}"
        return f"{where}: {self.problem}"


class ModelError(RnalocError):
    """The model file cannot be loaded or does not follow the ONNX contract (docs/DESIGN.md)."""


class OutputError(RnalocError):
    """Writing the results failed (disk full, permission denied, closed pipe, ...)."""

    exit_code = EXIT_OUTPUT


class OverwriteError(RnalocError):
    """An output path names one of the run's inputs (or another output): refused before any work."""

    exit_code = EXIT_USAGE


class UsageProblem(RnalocError):
    """A command line that cannot work (an output name that promises a format this tool does
    not write, options that contradict each other): exit 2 like click's usage errors, raised
    by the runtime, which never imports click."""

    exit_code = EXIT_USAGE


class NoResults(RnalocError):
    """Every record was skipped, dropped or filtered out: no output is written."""

    exit_code = EXIT_NO_RESULTS


class BrokenPipe(OutputError):
    """The reader of standard output went away (`rnaloc-infer x.fa | head`): stop quietly."""

    exit_code = EXIT_BROKEN_PIPE


def output_error(name: str, exc: OSError) -> OutputError:
    """Map an OSError from writing ``name`` to the matching one-line OutputError."""
    if isinstance(exc, BrokenPipeError):
        return BrokenPipe(f"cannot write {name}: broken pipe")
    return OutputError(f"cannot write {name}: {exc.strerror or exc}")


class Terminated(BaseException):
    """Raised from the SIGTERM handler so `finally` blocks clean up like on Ctrl-C.

    A BaseException (like KeyboardInterrupt) so that `except Exception` does not swallow it.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")
