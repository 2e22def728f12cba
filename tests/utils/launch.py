"""Start ``borne`` in a child process that reports, as it exits, whether pydantic or Typer was ever imported.

A kiosk must not import pydantic (about 11 MB of a touch kiosk's 150 MB): it speaks the contract through
:mod:`protocol.wire` and validates its configuration with :mod:`kiosk.schema`. Its service's entry point
(:mod:`kiosk.entry`) reads its command line without Typer (whose parameter handling imports pydantic). Modules stay
in ``sys.modules`` once imported, so a look at exit covers the whole run.
"""

from __future__ import annotations

import logging
import sys

_LOG = logging.getLogger(__name__)

REPORT = "heavy modules imported:"
#: What the kiosk's service must never import.
HEAVY = {"pydantic", "pydantic_core", "pydantic_settings", "typer", "click"}

_CODE = f"""
import atexit, sys

def _report():
    heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r})
    sys.stderr.write('{REPORT} ' + (','.join(heavy) or 'none') + '\\n')
    sys.stderr.flush()

atexit.register(_report)
from borne.entry import main
main()
"""


def borne_command(*args: str) -> list[str]:
    """``python -c ... <args>``: ``borne <args>`` as its console script runs it, reporting the heavy modules it
    imported when it exits."""
    return [sys.executable, "-c", _CODE, *args]
