"""``borne provision``: register and prepare kiosks."""

from __future__ import annotations

import logging

import typer

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)
kiosk_app = typer.Typer(no_args_is_help=True, help="Kiosks: new, verify, revoke, rotate, move, list.")
app.add_typer(kiosk_app, name="kiosk")
