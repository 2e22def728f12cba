"""Start ``borne`` in a child process that reports, as it exits, whether pydantic was ever imported.

A kiosk must not import pydantic (about 11 MB of a touch kiosk's 150 MB): it speaks the contract through
:mod:`protocol.wire` and validates its configuration with :mod:`kiosk.schema`. Modules stay in ``sys.modules``
once imported, so a look at exit covers the whole run.
"""

from __future__ import annotations

import logging
import sys

_LOG = logging.getLogger(__name__)

REPORT = "heavy modules imported:"

_CODE = f"""
import atexit, sys

def _report():
    heavy = sorted({{m.split('.')[0] for m in sys.modules}} & {{'pydantic', 'pydantic_core', 'pydantic_settings'}})
    sys.stderr.write('{REPORT} ' + (','.join(heavy) or 'none') + '\\n')
    sys.stderr.flush()

atexit.register(_report)
from borne.cli import main
main()
"""


def borne_command(*args: str) -> list[str]:
    """``python -c ... <args>``: ``borne <args>``, reporting the heavy modules it imported when it exits."""
    return [sys.executable, "-c", _CODE, *args]
