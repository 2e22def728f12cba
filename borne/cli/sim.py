"""``borne sim``: a fleet of simulated kiosks against a broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import typer

from borne.cli.errors import CliError, requires, requires_devtools

_LOG = logging.getLogger(__name__)


def sim(
    kiosks: int = typer.Option(10, "--kiosks", "-n", min=1, help="Kiosks connected at once."),
    host: str = typer.Option("127.0.0.1", "--host", envvar="BORNE_MQTT_HOST"),
    port: int = typer.Option(1883, "--port", envvar="BORNE_MQTT_PORT"),
    prefix: str = typer.Option("sim", help="Kiosk ids are PREFIX-00000, PREFIX-00001, ..."),
    heartbeat: float = typer.Option(60.0, "--heartbeat", help="Seconds between heartbeats."),
    votes_per_hour: float = typer.Option(3.0, help="Votes per kiosk per hour (0: none)."),
    speed: float = typer.Option(1.0, help="Time scale of the voting pace: 60 = an hour of votes a minute."),
    backlog: int = typer.Option(0, help="Each kiosk comes back with this many votes (a week: about 150)."),
    batch: int = typer.Option(100, min=1, max=500, help="Votes per message."),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0: Ctrl-C, or backlog confirmed)."),
    register: str = typer.Option(None, "--register", metavar="DATABASE_URL",
                                 help="Register the simulated kiosks in this collector database first."),
    kill: bool = typer.Option(False, help="At the end, drop connections without a goodbye (Last Wills)."),
    per_connection: int = typer.Option(
        1, "--per-connection", min=1, max=100,
        help="Kiosks sharing one MQTT connection (the first one's Last Will only): more kiosks than the open-file "
        "limit allows connections.",
    ),
) -> None:
    """Connect KIOSKS simulated kiosks: status with Last Will, heartbeats, votes, optional backlog."""
    with requires("collector"), requires_devtools("sim"):  # development tooling, not shipped
        from devtools.sim.fleet import Fleet, FleetOptions, kiosk_ids, register_fleet

    if register:
        from collector.db.engine import make_engine
        from collector.db.migrate import SchemaOutdated, ensure_current

        engine = make_engine(register)
        try:
            ensure_current(engine)
        except SchemaOutdated as exc:
            raise CliError(str(exc)) from None
        added = register_fleet(engine, kiosk_ids(prefix, kiosks))
        engine.dispose()
        typer.echo(f"sim: registered {added} new kiosks")
    options = FleetOptions(host=host, port=port, kiosks=kiosks, prefix=prefix, heartbeat_s=heartbeat,
                           votes_per_hour=votes_per_hour, speed=speed, backlog=backlog, batch=batch,
                           per_connection=per_connection)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(Fleet(options), duration, kill))


async def _run(fleet: object, duration: float, kill: bool) -> None:
    from devtools.sim.fleet import Fleet

    assert isinstance(fleet, Fleet)  # noqa: S101 - typed late to keep imports lazy
    if fleet.options.backlog:
        fleet.make_backlog()
    t0 = time.monotonic()
    await fleet.connect_all()
    typer.echo(f"sim: {fleet.stats.connected} connected, {fleet.stats.failed} failed "
               f"in {time.monotonic() - t0:.1f}s")
    fleet.start_behaviour()
    try:
        if fleet.options.backlog:
            await fleet.send_backlogs()
        deadline = t0 + duration if duration else None
        while deadline is None or time.monotonic() < deadline:
            await asyncio.sleep(min(5.0, max(0.1, (deadline or 1e18) - time.monotonic())))
            typer.echo(f"sim: {fleet.stats.line()}")
            if fleet.options.backlog and not duration and fleet.unconfirmed() == 0:
                typer.echo(f"sim: backlog confirmed in {time.monotonic() - t0:.1f}s")
                break
    finally:
        await fleet.close(kill=kill)
