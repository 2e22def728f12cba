"""``borne collector``: serve, and manage espaces and kiosks."""

from __future__ import annotations

import logging
import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from borne.errors import CliError, requires

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)
espaces_app = typer.Typer(no_args_is_help=True, help="Espaces: add, import, list.")
kiosks_app = typer.Typer(no_args_is_help=True, help="Kiosks: add, move, list.")
rejects_app = typer.Typer(no_args_is_help=True, help="Messages the collector could not count.")
db_app = typer.Typer(no_args_is_help=True, help="The database's schema (Alembic).")
app.add_typer(db_app, name="db")
app.add_typer(espaces_app, name="espaces")
app.add_typer(kiosks_app, name="kiosks")
app.add_typer(rejects_app, name="rejects")


class BrokerChoice(StrEnum):
    embedded = "embedded"
    external = "external"


def settings_from(**overrides: Any) -> Any:
    with requires("collector"):
        from collector.config import Settings
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def open_db(database_url: str | None, data_dir: Path | None) -> Any:
    """Settings and a sessionmaker on the configured database, its schema in place."""
    with requires("collector"):
        from collector.db.engine import make_engine, session_factory
        from collector.db.migrate import SchemaOutdated, ensure_current
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    engine = make_engine(settings.effective_database_url)
    try:
        ensure_current(engine)
    except SchemaOutdated as exc:
        raise CliError(str(exc)) from None
    return session_factory(engine)


DatabaseOpt = typer.Option(None, "--database-url", envvar="BORNE_DATABASE_URL", help="SQLAlchemy URL.")
DataDirOpt = typer.Option(None, "--data-dir", envvar="BORNE_DATA_DIR", help="Folder of the SQLite file.")


@app.command("serve")
def serve(
    broker: BrokerChoice = typer.Option(BrokerChoice.embedded, envvar="BORNE_BROKER",
                                        help="Start the embedded broker, or use an external one."),
    mqtt_host: str = typer.Option(None, envvar="BORNE_MQTT_HOST"),
    mqtt_port: int = typer.Option(None, envvar="BORNE_MQTT_PORT"),
    api_host: str = typer.Option(None, envvar="BORNE_API_HOST"),
    api_port: int = typer.Option(None, envvar="BORNE_API_PORT"),
    database_url: str = DatabaseOpt,
    data_dir: Path = DataDirOpt,
) -> None:
    """Run the collector: ingest from the broker, store, serve the API. Ctrl-C stops it."""
    with requires("collector"):
        from collector.broker import PortTaken
        from collector.db.migrate import SchemaOutdated
        from collector.service import Collector
    embedded = broker is BrokerChoice.embedded
    settings = settings_from(
        mqtt_host=mqtt_host, mqtt_port=mqtt_port, api_host=api_host, api_port=api_port,
        database_url=database_url, data_dir=data_dir, embedded_broker=embedded,
        **({"mqtt_protocol": "3.1.1", "mqtt_share_group": ""} if embedded else {}),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector = Collector(settings)
    try:
        collector.start()
    except (PortTaken, SchemaOutdated) as exc:
        collector.close()
        raise CliError(str(exc)) from None
    typer.echo(f"collector: API on {collector.api_url}, broker {settings.mqtt_host}:{settings.mqtt_port}"
               f"{' (embedded)' if embedded else ''}")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        collector.close()


@espaces_app.command("add")
def espaces_add(
    espace_id: str, name: str, departement: str,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Add (or rename) one espace."""
    from collector.geo import UnknownDepartement
    from collector.registry import add_espace

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            espace = add_espace(session, espace_id, name, departement)
        except UnknownDepartement as exc:
            raise CliError(str(exc), 2) from None
        typer.echo(f"espace {espace.id}: {espace.name} ({espace.departement}, région {espace.region})")


@kiosks_app.command("add")
def kiosks_add(
    kiosk_id: str, espace: str = typer.Option(..., "--espace"),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Register a kiosk at an espace (without credentials: see ``borne provision kiosk new``)."""
    from collector.registry import RegistryError, add_kiosk

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            add_kiosk(session, kiosk_id, espace)
        except RegistryError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"kiosk {kiosk_id} registered at espace {espace}")


@kiosks_app.command("list")
def kiosks_list(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Every kiosk with its espace, status and last sign of life."""
    from sqlalchemy import select

    from collector.db.models import Kiosk

    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        for k in session.scalars(select(Kiosk).order_by(Kiosk.id)):
            typer.echo(f"{k.id}\t{k.espace_id}\t{k.status}\t{k.last_seen or '-'}\t{k.outbox_depth or 0}")


@rejects_app.command("list")
def rejects_list(
    limit: int = 50, database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """The latest rejected messages, with their reason."""
    from sqlalchemy import select

    from collector.db.models import Reject

    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        for r in session.scalars(select(Reject).order_by(Reject.id.desc()).limit(limit)):
            typer.echo(f"{r.received_at:%Y-%m-%d %H:%M:%S}\t{r.reason}\t{r.kiosk_id or '-'}\t{r.topic}\t"
                       f"{r.detail[:120]}")


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head"), database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Migrate the database's schema to the latest revision (or to REVISION)."""
    with requires("collector"):
        from collector.db.engine import make_engine, redact_url
        from collector.db.migrate import current_revision, upgrade
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    engine = make_engine(settings.effective_database_url)
    before = current_revision(engine)
    upgrade(engine, revision)
    typer.echo(f"{redact_url(settings.effective_database_url)}: {before or 'empty'} -> {current_revision(engine)}")


@db_app.command("current")
def db_current(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Print the database's schema revision and the code's."""
    with requires("collector"):
        from collector.db.engine import make_engine
        from collector.db.migrate import current_revision, head_revision
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    engine = make_engine(settings.effective_database_url)
    typer.echo(f"database: {current_revision(engine) or 'none'}\ncode:     {head_revision()}")
