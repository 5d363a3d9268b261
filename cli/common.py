"""What every command line of the package shares: ``-h``/``--help``, ``--version``, the
one-line log format, and the mapping of failures to documented exit statuses.

Applied after the commands are defined (``standard_options(main, "rnaloc-train")``), so a
group's subcommands get both options too, including ones added later with ``add_command``
before the call.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Callable, NoReturn, Optional, Union

import click

from rnaloc_infer import __version__
from rnaloc_infer.errors import EXIT_SIGINT, EXIT_SIGTERM, RnalocError, Terminated

log = logging.getLogger("rnaloc_infer.cli")

EXIT_INTERNAL = 4  # a bug: one line unless --debug (documented in each command's epilog)

HELP_OPTION_NAMES = ["-h", "--help"]

# What --threads means in every command that runs the model (rnaloc-infer, rnaloc-explain,
# rnaloc-variants, rnaloc-train evaluate): one definition, so the help cannot drift (issue 31).
THREADS_HELP = ("CPU cores to use: that many threads run model calls side by side, each on one core. "
                "Default: every core this process may use (CPU affinity and cgroup quota; docs/PERFORMANCE.md).")


def standard_options(command: click.Command, prog_name: str) -> click.Command:
    """Give ``command`` (and, for a group, each subcommand) ``-h`` and ``--version``."""
    command.context_settings.setdefault("help_option_names", HELP_OPTION_NAMES)
    if not any("--version" in getattr(p, "opts", ()) for p in command.params):
        click.version_option(__version__, "--version", prog_name=prog_name)(command)
    for name, sub in getattr(command, "commands", {}).items():
        standard_options(sub, f"{prog_name} {name}")
    return command

ON_ERROR_HELP = "Bad record: stop with an error, or report it and go on."
ERRORS_FILE_HELP = "With --on-error skip: TSV of skipped records (source, record_number, id, problem)."
OUT_OF_RANGE_HELP = ("Records outside the model's training range (applicability column not 'ok'): keep them with "
                     "their probabilities but no labels (labels column NA), label them anyway, leave them out, or "
                     "treat them as bad records (see --on-error).")


def run_path_options(command: Callable) -> Callable:
    """--on-error, --errors-file and --out-of-range, for every command whose records go through
    the run path (rnaloc_infer.output.run): the same names, choices, defaults and help."""
    from rnaloc_infer.applicability import OUT_OF_RANGE_POLICIES

    for option in reversed((
        click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
                     help=ON_ERROR_HELP),
        click.option("--errors-file", metavar="PATH", default=None, help=ERRORS_FILE_HELP),
        click.option("--out-of-range", type=click.Choice(OUT_OF_RANGE_POLICIES), default="keep", show_default=True,
                     help=OUT_OF_RANGE_HELP),
    )):
        command = option(command)
    return command


def warn_errors_file_without_skip(on_error: str, errors_file: Optional[str]) -> None:
    """--errors-file with the default --on-error fail collects nothing: say so once."""
    if errors_file and on_error == "fail":
        log.warning("--errors-file collects skipped records only with --on-error skip; "
                    "with the default (fail) the first bad record stops the run")


class _Formatter(logging.Formatter):
    """``PROG: message``, ``PROG: warning: message``: one line per event, no logger names."""

    def __init__(self, prog: str) -> None:
        super().__init__()
        self.prog = prog

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname.lower()}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return f"{self.prog}: {text}"


def configure_logging(prog: str, quiet: bool, debug: bool) -> None:
    """Log to stderr as ``prog: ...``; errors only with --quiet, everything with --debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(prog))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.ERROR if quiet else logging.INFO)
    # Python warnings (a library's UserWarning, e.g. Ray Data's) become one log line like the
    # rest, hidden by --quiet, instead of two lines of source on stderr.
    logging.captureWarnings(True)


def _raise_terminated(signum, _frame) -> None:
    raise Terminated(signum)


def exit_with_status(work: Callable[[], int], *, debug: bool, stopped: Union[str, Callable[[], str]],
                     broken_pipe: Optional[Callable[[BaseException], int]] = None) -> NoReturn:
    """Run a command's ``work`` and exit with its status; failures become one logged line.

    Why one place: every command must turn a user error into its documented exit code
    without a traceback, say what an interruption left behind (``stopped``: e.g. "no output
    written", or a function that says it when asked: "output incomplete: 12 rows written to
    standard output"), and show a traceback for a bug only with --debug. ``broken_pipe`` handles a
    closed standard output (``| head``) quietly, for commands that write to it.
    """
    from rnaloc_infer.errors import BrokenPipe

    def what_stopped() -> str:
        return stopped() if callable(stopped) else stopped

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = work()
    except BrokenPipe as exc:
        if broken_pipe is None:
            raise
        code = broken_pipe(exc)
    except RnalocError as exc:
        log.error("%s", exc, exc_info=debug)
        code = exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted; %s", what_stopped())
        code = EXIT_SIGINT
    except Terminated:
        log.error("terminated; %s", what_stopped())
        code = EXIT_SIGTERM
    except click.ClickException:
        raise
    except BrokenPipeError as exc:
        if broken_pipe is None:
            raise
        code = broken_pipe(exc)
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            raise
        log.error("internal error: %s: %s (rerun with --debug for a traceback)", type(exc).__name__, exc)
        code = EXIT_INTERNAL
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code)
