"""``borne demo``: an embedded broker, a collector and simulated kiosks at a few espaces, on this machine."""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
import time
from pathlib import Path

import typer

from borne.errors import requires

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
]


def demo(
    kiosks: int = typer.Option(6, min=1, max=200, help="Simulated kiosks."),
    pace: float = typer.Option(2.0, min=0.05, help="Mean seconds between two visitors at a kiosk."),
    duration: float = typer.Option(0, help="Stop after this many seconds (0: run until Ctrl-C)."),
    data_dir: Path = typer.Option(None, help="Where to keep the data (default: a temporary folder)."),
    api_port: int = typer.Option(8000, help="The API's port (another is picked if taken)."),
    mqtt_port: int = typer.Option(1883, help="The broker's port (another is picked if taken)."),
) -> None:
    """Run everything on this machine and print the URL to look at."""
    with requires("collector"):
        from collector.broker import free_port, port_free
        from collector.config import Settings
        from collector.registry import add_espace, add_kiosk
        from collector.service import Collector
    with requires("kiosk"):
        from kiosk.simulator import SimulatedKiosk, simulated_config

    folder = data_dir or Path(tempfile.mkdtemp(prefix="borne-demo-"))
    if not port_free("127.0.0.1", mqtt_port):
        chosen = free_port()
        typer.echo(f"port {mqtt_port} is taken (another MQTT broker?): the demo's broker uses {chosen}")
        mqtt_port = chosen
    if not port_free("127.0.0.1", api_port):
        chosen = free_port()
        typer.echo(f"port {api_port} is taken: the demo's API uses {chosen}")
        api_port = chosen
    settings = Settings(data_dir=folder / "collector", mqtt_port=mqtt_port, api_port=api_port,
                        embedded_broker=True, mqtt_protocol="3.1.1", mqtt_share_group="",
                        mqtt_client_id="borne-demo-collector")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    collector = Collector(settings).start()
    simulated: list[SimulatedKiosk] = []
    try:
        from collector.db.engine import session_factory

        if collector.engine is None:
            raise RuntimeError("the collector has no database")
        with session_factory(collector.engine)() as session, session.begin():
            for i in range(kiosks):
                espace_id, name, dep = DEMO_ESPACES[i % len(DEMO_ESPACES)]
                add_espace(session, espace_id, name, dep)
                kiosk_id = f"kiosk-{i + 1:03d}"
                from collector.db.models import Kiosk

                if session.get(Kiosk, kiosk_id) is None:
                    add_kiosk(session, kiosk_id, espace_id)
        for i in range(kiosks):
            config = simulated_config(f"kiosk-{i + 1:03d}", folder / "kiosks", "127.0.0.1", mqtt_port)
            sim = SimulatedKiosk(config)
            sim.run_visitors(pace, seed=i)
            simulated.append(sim)
        first = DEMO_ESPACES[0][0]
        typer.echo(f"borne demo: {kiosks} kiosks voting; data in {folder}")
        typer.echo(f"  API:          {collector.api_url}/docs")
        typer.echo(f"  satisfaction: {collector.api_url}/api/v1/espaces/{first}/satisfaction")
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
        for sim in simulated:
            sim.close()
        collector.close()
        typer.echo(f"stopped; {collector.metrics.get('votes_stored')} votes stored")
