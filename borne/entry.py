"""``borne``'s console script: the kiosk's service (``borne kiosk run -c FILE``) is run by :mod:`kiosk.entry`
before Typer is imported; every other command line goes to the Typer app (:mod:`borne.cli`)."""

from __future__ import annotations

import logging
import sys

_LOG = logging.getLogger(__name__)


def main() -> None:
    from kiosk.entry import serve

    code = serve(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from borne.cli import main as cli_main

    cli_main()
