"""``python -m kiosk [-v] run -c FILE [--ui gpio|touch]``: the kiosk's service without the ``borne`` command
(:mod:`kiosk.entry`); neither Typer nor pydantic is imported."""

import logging
import sys

from kiosk.entry import serve

_LOG = logging.getLogger(__name__)

_USAGE = "usage: python -m kiosk [-v] run -c FILE [--ui gpio|touch]\n"

code = serve(sys.argv[1:], command=("run",))
if code is None:
    sys.stderr.write(_USAGE)
    code = 2
sys.exit(code)
