"""``borne protocol``: the JSON Schemas and an example message."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import typer

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)


@app.command("schema")
def schema(
    out: Path = typer.Option(None, help="Folder to write the schemas to (default: the package's own)."),
) -> None:
    """Export the JSON Schemas of every payload."""
    from protocol.schema import SCHEMA_DIR, export

    for path in export(out or SCHEMA_DIR):
        typer.echo(str(path))


@app.command("example")
def example(kiosk_id: str = typer.Argument("demo-kiosk-1"), answer: int = 4, seq: int = 1) -> None:
    """Print a valid vote batch, ready for ``mosquitto_pub -m``."""
    from protocol.codec import encode
    from protocol.models import Vote, VoteBatch, utcnow

    now = utcnow().replace(microsecond=0)
    vote = Vote(id=uuid.uuid4(), seq=seq, answer=answer, scale=4, ts=now, clock_synced=True)
    typer.echo(encode(VoteBatch(kiosk_id=kiosk_id, sent_at=now, votes=[vote])).decode())
