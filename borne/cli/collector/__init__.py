"""``borne collector``: serve, and the wiring of its groups (one module each)."""

from __future__ import annotations

import logging
import signal
import threading
from enum import StrEnum
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db, say_database, settings_from
from borne.cli.collector.activity import activity_app
from borne.cli.collector.alerts import alerts_app
from borne.cli.collector.db import db_app
from borne.cli.collector.espaces import espaces_app
from borne.cli.collector.fleet import fleet_app
from borne.cli.collector.kiosks import kiosks_app, kiosks_config_app
from borne.cli.collector.kpi import kpi_app
from borne.cli.collector.rejects import rejects_app
from borne.cli.collector.users import users_app
from borne.cli.errors import CliError, requires
from borne.cli.report import app as report_app

_LOG = logging.getLogger(__name__)

__all__ = [
    "BrokerChoice", "DataDirOpt", "DatabaseOpt", "activity_app", "alerts_app", "app", "db_app", "espaces_app",
    "fleet_app",
    "kiosks_app", "kiosks_config_app", "kpi_app", "open_db", "rejects_app", "requires", "say_database", "serve",
    "settings_from", "users_app",
]

app = typer.Typer(no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(espaces_app, name="espaces")
app.add_typer(kiosks_app, name="kiosks")
app.add_typer(rejects_app, name="rejects")
app.add_typer(activity_app, name="activity")
app.add_typer(users_app, name="users")
app.add_typer(kpi_app, name="kpi")
app.add_typer(alerts_app, name="alerts")
app.add_typer(fleet_app, name="fleet")
app.add_typer(report_app, name="report")


class BrokerChoice(StrEnum):
    embedded = "embedded"
    external = "external"


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
    ingest_workers: int = typer.Option(
        None, envvar="BORNE_INGEST_WORKERS", min=1, max=64,
        help="Ingest processes sharing the subscription (one per core).",
    ),
) -> None:
    """Run the collector: ingest from the broker, store, serve the API. Ctrl-C stops it."""
    with requires("collector"):
        from collector.broker.accounts import AccountsError
        from collector.broker.mosquitto import BrokerMissing, PortTaken
        from collector.db.migrate import SchemaOutdated
        from collector.ingest.workers import WorkersUnsupported
        from collector.service import Collector, settle_gc
    embedded = broker is BrokerChoice.embedded
    settings = settings_from(
        mqtt_host=mqtt_host, mqtt_port=mqtt_port, api_host=api_host, api_port=api_port,
        database_url=database_url, data_dir=data_dir, embedded_broker=embedded, ingest_workers=ingest_workers,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector = Collector(settings)
    try:
        collector.start()
    except (PortTaken, BrokerMissing, AccountsError, SchemaOutdated, WorkersUnsupported) as exc:
        collector.close()
        raise CliError(str(exc)) from None
    settle_gc()  # start-up's objects out of the full collections: the dashboard's p95 (docs/performance.md)
    typer.echo(f"collector: API on {collector.api_url}, broker {settings.mqtt_host}:{settings.mqtt_port}"
               f"{' (embedded)' if embedded else ''}")
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        collector.close()
