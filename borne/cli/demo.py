"""``borne demo``: an embedded broker, a collector and simulated kiosks at a few espaces, on this machine."""

from __future__ import annotations

import dataclasses
import logging
import signal
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from borne.cli.errors import CliError, requires, requires_devtools

_LOG = logging.getLogger(__name__)

#: A handful of espaces across France (names in the style of the ANCT list; ids are the demo's own).
DEMO_ESPACES = [
    ("demo-01", "France services de Valserhône", "01"),
    ("demo-13", "France services de Marseille Nord", "13"),
    ("demo-22", "France services de Guingamp", "22"),
    ("demo-2a", "France services de Porto-Vecchio", "2A"),
    ("demo-31", "France services de Saint-Gaudens", "31"),
    ("demo-59", "France services de Maubeuge", "59"),
    ("demo-63", "France services d'Ambert", "63"),
    ("demo-67", "France services de Saverne", "67"),
    ("demo-75", "France services Paris 19e", "75"),
    ("demo-87", "France services de Bellac", "87"),
    ("demo-971", "France services de Capesterre-Belle-Eau", "971"),
    ("demo-974", "France services de Saint-Benoît", "974"),
    ("demo-02", "France services de Guise", "02"),
    ("demo-06", "France services de Puget-Théniers", "06"),
    ("demo-09", "France services de Lavelanet", "09"),
    ("demo-12", "France services de Decazeville", "12"),
    ("demo-14", "France services de Vire Normandie", "14"),
    ("demo-18", "France services de Sancoins", "18"),
    ("demo-21", "France services de Montbard", "21"),
    ("demo-23", "France services d'Aubusson", "23"),
    ("demo-25", "France services de Morteau", "25"),
    ("demo-29", "France services de Carhaix-Plouguer", "29"),
    ("demo-2b", "France services de Corte", "2B"),
    ("demo-33", "France services de Lesparre-Médoc", "33"),
    ("demo-35", "France services de Redon", "35"),
    ("demo-38", "France services de La Mure", "38"),
    ("demo-41", "France services de Romorantin-Lanthenay", "41"),
    ("demo-44", "France services de Châteaubriant", "44"),
    ("demo-48", "France services de Langogne", "48"),
    ("demo-50", "France services de Coutances", "50"),
    ("demo-51", "France services de Sainte-Menehould", "51"),
    ("demo-56", "France services de Pontivy", "56"),
    ("demo-62", "France services de Saint-Pol-sur-Ternoise", "62"),
    ("demo-64", "France services de Mauléon-Licharre", "64"),
    ("demo-72", "France services de La Ferté-Bernard", "72"),
    ("demo-76", "France services d'Eu", "76"),
    ("demo-84", "France services de Valréas", "84"),
    ("demo-88", "France services de Neufchâteau", "88"),
    ("demo-93", "France services de Clichy-sous-Bois", "93"),
    ("demo-972", "France services du Marin", "972"),
    ("demo-973", "France services de Saint-Laurent-du-Maroni", "973"),
    ("demo-976", "France services de Dembéni", "976"),
]
DEMO_USER = "demo-national"


def demo(
    kiosks: int = typer.Option(len(DEMO_ESPACES), min=1, max=200, help="Simulated kiosks (one an espace)."),
    history_days: int = typer.Option(28, min=0, max=400, help="Days of past votes each kiosk comes with."),
    pace: float = typer.Option(2.0, min=0.05, help="Mean seconds between two visitors at a kiosk."),
    duration: float = typer.Option(0, help="Stop after this many seconds (0: run until Ctrl-C)."),
    data_dir: Path = typer.Option(None, help="Where to keep the data (default: a temporary folder)."),
    api_port: int = typer.Option(8000, help="The API's port (another is picked if taken)."),
    mqtt_port: int = typer.Option(1883, help="The broker's port (another is picked if taken)."),
) -> None:
    """Run everything on this machine and print the URL to look at."""
    with requires("collector"):
        from collector.broker.accounts import hash_secret, new_secret
        from collector.broker.mosquitto import BrokerMissing, PortTaken, free_port, port_free
        from collector.config import Settings
        from collector.registry.espaces import add_espace, add_kiosk
        from collector.service import Collector
    # The simulators and the demo's data are development tooling, not shipped: imported here, before anything starts.
    with requires("collector"), requires_devtools("demo"):
        from devtools.demo_data import fill_history, raise_an_alert, sign_in_token
        from devtools.demo_provider import DEMO_PEOPLE, ProviderUnavailable, start_demo_sign_in
    with requires("kiosk"), requires_devtools("demo"):
        from devtools.kiosk_sim import SimulatedKiosk, simulated_config
        from kiosk.config import SecretStr

    # Forty kiosks connecting would bury the addresses printed below: kiosks speak up only on trouble.
    logging.getLogger("kiosk").setLevel(logging.WARNING)
    folder = data_dir or Path(tempfile.mkdtemp(prefix="borne-demo-"))
    if not port_free("127.0.0.1", mqtt_port):
        chosen = free_port()
        typer.echo(f"port {mqtt_port} is taken (another MQTT broker?): the demo's broker uses {chosen}")
        mqtt_port = chosen
    if not port_free("127.0.0.1", api_port):
        chosen = free_port()
        typer.echo(f"port {api_port} is taken: the demo's API uses {chosen}")
        api_port = chosen
    # The embedded Mosquitto with accounts, as a small deployment runs it: each simulated kiosk has its own.
    settings = Settings(data_dir=folder / "collector", mqtt_port=mqtt_port, api_port=api_port,
                        embedded_broker=True, mqtt_accounts="embedded", mqtt_client_id="borne-demo-collector")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector = Collector(settings)
    try:
        collector.start()
    except (BrokerMissing, PortTaken) as exc:
        collector.close()
        raise CliError(str(exc)) from None
    simulated: list[SimulatedKiosk] = []
    provider = None
    try:
        from collector.db.engine import session_factory

        if collector.engine is None:
            raise RuntimeError("the collector has no database")
        from collector.db.models import Kiosk

        passwords: dict[str, str] = {}
        with session_factory(collector.engine)() as session, session.begin():
            for i in range(kiosks):
                espace_id, name, dep = DEMO_ESPACES[i % len(DEMO_ESPACES)]
                add_espace(session, espace_id, name, dep)
                kiosk_id = f"kiosk-{i + 1:03d}"
                from collector.db.models import Kiosk

                kiosk = session.get(Kiosk, kiosk_id) or add_kiosk(  # installed before the history it is given
                    session, kiosk_id, espace_id, now=datetime.now(UTC) - timedelta(days=max(history_days, 0) + 1))
                # A new password at each run, as provisioning would make it (the demo keeps it in memory only).
                passwords[kiosk_id] = new_secret()
                kiosk.secret_hash = hash_secret(passwords[kiosk_id])
                if collector.accounts is not None:
                    collector.accounts.create(kiosk_id, passwords[kiosk_id], kiosk.secret_hash)
        past = fill_history(collector.engine, [f"kiosk-{i + 1:03d}" for i in range(kiosks)], history_days,
                            metrics=collector.metrics)
        # Unhappy visitors at Marseille Nord (the second espace), so that the alerts page has one to show.
        unhappy_kiosk = f"kiosk-{min(2, kiosks):03d}"
        raise_an_alert(collector.engine, unhappy_kiosk, metrics=collector.metrics)
        token = sign_in_token(collector.engine, DEMO_USER)
        try:
            provider = start_demo_sign_in(collector.engine, collector.api_url)
        except ProviderUnavailable as exc:
            typer.echo(f"no sign-in as staff ({exc}): the token below still works")
        for i in range(kiosks):
            kiosk_id = f"kiosk-{i + 1:03d}"
            config = simulated_config(kiosk_id, folder / "kiosks", "127.0.0.1", mqtt_port)
            if collector.accounts is not None:
                config = dataclasses.replace(config, broker=dataclasses.replace(
                    config.broker, username=collector.accounts.username(kiosk_id),
                    password=SecretStr(passwords[kiosk_id])))
            sim = SimulatedKiosk(config)
            sim.run_visitors(pace, seed=i)
            simulated.append(sim)
        # The alert raised above is kept (and later cleared) by the collector's own alert loop, which
        # Collector.start() runs every alerts_interval_s: the demo starts none of its own.
        first = DEMO_ESPACES[0][0]
        typer.echo(f"borne demo: {kiosks} kiosks voting at espaces in {len({d for _, _, d in DEMO_ESPACES[:kiosks]})} "
                   f"départements ({past} past votes loaded); data in {folder}")
        typer.echo(f"  dashboard:    {collector.api_url}/dashboard/")
        if provider is not None:
            typer.echo(f"  sign in:      « S'identifier avec ProConnect » on the dashboard, at the demo's provider "
                       f"({provider.issuer}) type one of these logins, any password:")
            for login, (_, role, scope) in DEMO_PEOPLE.items():
                where = f" {scope}" if scope else ""
                typer.echo(f"                  {login:<16}{role or 'not on the access list'}{where}")
        typer.echo(f"  token:        {token}")
        typer.echo(f"                (national partner {DEMO_USER!r}, for scripts: or paste it on the sign-in page)")
        typer.echo(f"  API:          {collector.api_url}/docs")
        typer.echo(f"  satisfaction: {collector.api_url}/api/v1/kpi/satisfaction?level=espace&code={first}")
        typer.echo(f"  map:          {collector.api_url}/dashboard/carte")
        from collector.db.engine import redact_url

        reach = (f"--database-url {redact_url(settings.database_url)}" if settings.database_url
                 else f"--data-dir {settings.data_dir.resolve()}")
        typer.echo(f"  database:     {reach}   (give it to borne collector ..., e.g. borne collector users list "
                   f"{reach})")
        typer.echo(f"  alert:        unhappy visitors at {unhappy_kiosk}: {collector.api_url}/dashboard/alertes")
        typer.echo("Ctrl-C to stop.")
        started = time.monotonic()
        try:
            while not stop.wait(1.0):
                if duration and time.monotonic() - started >= duration:
                    break
        except KeyboardInterrupt:
            pass
    finally:
        typer.echo("stopping...")
        if provider is not None:
            provider.stop()
        for sim in simulated:
            sim.close()
        collector.close()
        typer.echo(f"stopped; {collector.metrics.get('votes_stored')} votes stored")
