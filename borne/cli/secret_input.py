"""Secrets on the command line: read from the environment or a hidden prompt; a warning when given as arguments.

A command line is seen by every user of the machine (``ps``) and kept in the shell's history. Options that carry
a secret take :func:`warn_on_command_line` as their callback and name an environment variable; without either, the
command prompts for the secret without echoing it.
"""

from __future__ import annotations

import logging

import typer

_LOG = logging.getLogger(__name__)


def warn_on_command_line(ctx: typer.Context, param: typer.CallbackParam, value: object) -> object:
    """An option callback: warn (on stderr) when the secret came from the command line itself."""
    source = ctx.get_parameter_source(param.name) if param.name else None
    # Typer's own types: Typer 0.2x carries its click inside, and ``click`` itself may not be installed (a kiosk's
    # venv has only what borne's core and its extra need). By name: the enum class differs between versions.
    if value and getattr(source, "name", None) == "COMMANDLINE":
        option = max(param.opts, key=len) if param.opts else param.name
        where = f"in {param.envvar}" if isinstance(param.envvar, str) else "at the prompt"
        typer.echo(f"borne: warning: {option} on the command line is visible to other users (ps) and kept in the "
                   f"shell's history; give it {where} instead", err=True)
    return value
