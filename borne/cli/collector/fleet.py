"""``borne collector fleet``: releases stored on the collector, and rollouts to stages of the fleet.

    borne collector fleet add DIR                      # a release signed with 'borne release sign'
    borne collector fleet update 0.2.0 --kiosk k-1     # then --espace, --departement, --percent 10, --all
    borne collector fleet status [ROLLOUT]
    borne collector fleet pause|resume|rollback [ROLLOUT]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db, settings_from
from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

fleet_app = typer.Typer(no_args_is_help=True, help="Software updates: releases and rollouts.")
MqttHostOpt = typer.Option(None, "--mqtt-host", envvar="BORNE_MQTT_HOST")
MqttPortOpt = typer.Option(None, "--mqtt-port", envvar="BORNE_MQTT_PORT")
RolloutArg = typer.Argument(None, help="The rollout's id (default: the latest).")


def _publish(settings: Any, desired: dict[str, Any]) -> None:
    from collector.broker.publisher import PublishFailed
    from collector.broker.releases import publish

    try:
        publish(settings, desired)
    except PublishFailed as exc:
        raise CliError(f"{exc}; the rollout is recorded: publish again with 'fleet resume'") from None


@fleet_app.command("add")
def fleet_add(directory: Path, database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Store a signed release (checked against its manifest, and BORNE_RELEASE_PUBLIC_KEY when set)."""
    from collector.fleet import FleetError, add_release

    settings = settings_from(database_url=database_url, data_dir=data_dir)
    try:
        version = add_release(settings, directory, settings.release_public_key)
    except FleetError as exc:
        raise CliError(str(exc), 2) from None
    typer.echo(f"release {version} stored")


@fleet_app.command("update")
def fleet_update(
    version: str,
    kiosk: str = typer.Option(None, "--kiosk", help="One kiosk."),
    espace: str = typer.Option(None, "--espace", help="Every kiosk of an espace."),
    departement: str = typer.Option(None, "--departement", help="Every kiosk of a département."),
    percent: float = typer.Option(None, "--percent", help="This share of the fleet (the same kiosks first)."),
    everyone: bool = typer.Option(False, "--all", help="The whole fleet."),
    mqtt_host: str = MqttHostOpt, mqtt_port: int = MqttPortOpt,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Ask a stage of the fleet to run release VERSION (retained: kiosks away get it when they come back)."""
    from collector.fleet import FleetError, plan

    stages = [(name, value) for name, value in (("kiosk", kiosk), ("espace", espace),
                                                ("departement", departement), ("percent", percent))
              if value is not None] + ([("all", None)] if everyone else [])
    if len(stages) != 1:
        raise CliError("name one stage: --kiosk, --espace, --departement, --percent or --all", 2)
    stage, target = stages[0]
    settings = settings_from(mqtt_host=mqtt_host, mqtt_port=mqtt_port, database_url=database_url,
                             data_dir=data_dir)
    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            rollout, desired = plan(session, settings, version, stage, None if target is None else str(target))
        except FleetError as exc:
            raise CliError(str(exc), 2) from None
        rollout_id = rollout.id
    _publish(settings, desired)
    typer.echo(f"rollout {rollout_id}: release {version} asked of {len(desired)} kiosk(s)")


@fleet_app.command("status")
def fleet_status(rollout_id: str = RolloutArg, database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """A rollout's kiosks: running, asked, what the agent does, the last result."""
    from collector.fleet import FleetError, get, progress, summary

    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        try:
            rollout = get(session, rollout_id)
        except FleetError as exc:
            raise CliError(str(exc), 2) from None
        counts = summary(session, rollout)
        typer.echo(f"rollout {rollout.id}\trelease {rollout.version}\t{rollout.stage} {rollout.target or ''}\t"
                   f"{rollout.state}\t{counts['updated']} updated, {counts['failed']} failed, "
                   f"{counts['waiting']} waiting of {counts['kiosks']}")
        for p in progress(session, rollout):
            typer.echo(f"{p.kiosk_id}\t{p.state}\trunning {p.running or 'factory'}\t{p.status or '-'}"
                       f"\t{p.result or '-'}")


def _change(action: str, rollout_id: str | None, mqtt_host: str | None, mqtt_port: int | None,
            database_url: str | None, data_dir: Path | None) -> None:
    from collector import fleet

    settings = settings_from(mqtt_host=mqtt_host, mqtt_port=mqtt_port, database_url=database_url,
                             data_dir=data_dir)
    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            rollout = fleet.get(session, rollout_id)
            if action == "rollback":
                desired = fleet.rollback(session, settings, rollout)
            else:
                desired = getattr(fleet, action)(session, rollout)
        except fleet.FleetError as exc:
            raise CliError(str(exc), 2) from None
        rollout_id = rollout.id
    _publish(settings, desired)
    typer.echo(f"rollout {rollout_id}: {action} ({len(desired)} kiosk(s))")


@fleet_app.command("pause")
def fleet_pause(rollout_id: str = RolloutArg, mqtt_host: str = MqttHostOpt, mqtt_port: int = MqttPortOpt,
                database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Stop a rollout where it is: kiosks not updated yet no longer are asked (those updating finish)."""
    _change("pause", rollout_id, mqtt_host, mqtt_port, database_url, data_dir)


@fleet_app.command("resume")
def fleet_resume(rollout_id: str = RolloutArg, mqtt_host: str = MqttHostOpt, mqtt_port: int = MqttPortOpt,
                 database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Ask the kiosks of a paused rollout that are not updated again."""
    _change("resume", rollout_id, mqtt_host, mqtt_port, database_url, data_dir)


@fleet_app.command("rollback")
def fleet_rollback(rollout_id: str = RolloutArg, mqtt_host: str = MqttHostOpt, mqtt_port: int = MqttPortOpt,
                   database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Ask each kiosk of a rollout for the release it ran before it."""
    _change("rollback", rollout_id, mqtt_host, mqtt_port, database_url, data_dir)
