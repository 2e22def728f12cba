"""Errors the command line reports as ``borne: error: ...`` with a non-zero exit."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

_LOG = logging.getLogger(__name__)


class CliError(Exception):
    """A problem to report to the user in one line, without a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class MissingExtra(CliError):
    """A sub-command needs an optional dependency group that is not installed."""


@contextlib.contextmanager
def requires(extra: str) -> Iterator[None]:
    """Turn an ImportError inside the block into a :class:`MissingExtra` naming the extra to install."""
    try:
        yield
    except ModuleNotFoundError as exc:
        raise MissingExtra(
            f"this command needs the '{extra}' extra ({exc.name} is missing): "
            f"pip install 'borne[{extra}]'",
            exit_code=3,
        ) from exc


@contextlib.contextmanager
def requires_devtools(command: str) -> Iterator[None]:
    """Turn a missing ``devtools`` (development tooling, not shipped in the wheel) inside the block into a
    :class:`CliError` saying where ``borne COMMAND`` runs; any other missing module passes through."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "devtools":
            raise
        raise CliError(
            f"'borne {command}' needs the development tools (devtools/), which an installed borne does not ship: "
            f"run it from a clone of the source tree (python -m borne {command}, or make demo)",
            exit_code=3,
        ) from exc
