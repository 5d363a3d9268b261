"""What every command line of the package shares: ``-h``/``--help`` and ``--version``.

Applied after the commands are defined (``standard_options(main, "rnaloc-train")``), so a
group's subcommands get both options too, including ones added later with ``add_command``
before the call.
"""

from __future__ import annotations

import click

from rnaloc_infer import __version__

HELP_OPTION_NAMES = ["-h", "--help"]


def standard_options(command: click.Command, prog_name: str) -> click.Command:
    """Give ``command`` (and, for a group, each subcommand) ``-h`` and ``--version``."""
    command.context_settings.setdefault("help_option_names", HELP_OPTION_NAMES)
    if not any("--version" in getattr(p, "opts", ()) for p in command.params):
        click.version_option(__version__, "--version", prog_name=prog_name)(command)
    for name, sub in getattr(command, "commands", {}).items():
        standard_options(sub, f"{prog_name} {name}")
    return command
