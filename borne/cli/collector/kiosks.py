"""``borne collector kiosks``: kiosks (add, list) and their remote configuration (``kiosks config``)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.collector._common import DatabaseOpt, DataDirOpt, open_db, settings_from
from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

kiosks_app = typer.Typer(no_args_is_help=True, help="Kiosks: add, move, list.")


@kiosks_app.command("add")
def kiosks_add(
    kiosk_id: str, espace: str = typer.Option(..., "--espace"),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Register a kiosk at an espace (without credentials: see ``borne provision kiosk new``)."""
    from collector.registry.espaces import RegistryError, add_kiosk

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            add_kiosk(session, kiosk_id, espace)
        except RegistryError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"kiosk {kiosk_id} registered at espace {espace}")


@kiosks_app.command("list")
def kiosks_list(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Every kiosk with its espace, status, last sign of life, outbox depth, and its releases: running (factory:
    as installed), asked for, and how its last update ended."""
    from sqlalchemy import select

    from collector.db.models import Kiosk

    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        for k in session.scalars(select(Kiosk).order_by(Kiosk.id)):
            t = k.telemetry or {}
            typer.echo(f"{k.id}\t{k.espace_id}\t{k.status}\t{k.last_seen or '-'}\t{k.outbox_depth or 0}"
                       f"\trelease {t.get('release') or 'factory'}\tasked {t.get('release_desired') or '-'}"
                       f"\t{t.get('update_result') or '-'}")

# -- kiosks config: remote configuration, retained on each kiosk's config topic ---------------------

kiosks_config_app = typer.Typer(no_args_is_help=True, help="Remote configuration of kiosks: set, clear, show.")
kiosks_app.add_typer(kiosks_config_app, name="config")
EspaceTargetOpt = typer.Option(None, "--espace", help="Every kiosk of this espace, instead of one kiosk.")
MqttHostOpt = typer.Option(None, "--mqtt-host", envvar="BORNE_MQTT_HOST")
MqttPortOpt = typer.Option(None, "--mqtt-port", envvar="BORNE_MQTT_PORT")


def _config_targets(kiosk_id: str | None, espace: str | None, database_url: str | None,
                    data_dir: Path | None) -> list[str]:
    from collector.broker.remote_config import KioskConfigError, targets

    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        try:
            return targets(session, kiosk_id=kiosk_id, espace_id=espace)
        except KioskConfigError as exc:
            raise CliError(str(exc), 2) from None


@kiosks_config_app.command("set")
def kiosks_config_set(
    kiosk_id: str = typer.Argument(None, help="The kiosk (or --espace)."),
    espace: str = EspaceTargetOpt,
    version: str = typer.Option(None, help="The version to report back (default: from the time)."),
    scale: int = typer.Option(None, help="Answers offered, 2 to 5."),
    followup: bool = typer.Option(None, "--followup/--no-followup", help="Ask the follow-up question."),
    repeat_interval: float = typer.Option(None, "--repeat-interval", help="Seconds; presses sooner are misuse."),
    hours: list[str] = typer.Option(None, "--hours", help="DAY=HH:MM-HH:MM[,...], repeatable (mon..sun)."),
    language: str = typer.Option(None, help="fr, en, es or de."),
    mqtt_host: str = MqttHostOpt, mqtt_port: int = MqttPortOpt,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Publish a configuration, retained, to one kiosk or to every kiosk of an espace."""
    from collector.broker.publisher import PublishFailed
    from collector.broker.remote_config import KioskConfigError, build, parse_hours, publish

    ids = _config_targets(kiosk_id, espace, database_url, data_dir)
    try:
        config = build(version, scale=scale, followup=followup, repeat_interval_s=repeat_interval,
                       opening_hours=parse_hours(hours or []), language=language)
    except KioskConfigError as exc:
        raise CliError(str(exc), 2) from None
    try:
        publish(settings_from(mqtt_host=mqtt_host, mqtt_port=mqtt_port), ids, config)
    except PublishFailed as exc:
        raise CliError(str(exc)) from None
    typer.echo(f"configuration {config.version} published to {len(ids)} kiosk(s): {', '.join(ids)}")


@kiosks_config_app.command("clear")
def kiosks_config_clear(
    kiosk_id: str = typer.Argument(None), espace: str = EspaceTargetOpt,
    mqtt_host: str = MqttHostOpt, mqtt_port: int = MqttPortOpt,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Remove the remote configuration: the kiosks go back to their local settings."""
    from collector.broker.publisher import PublishFailed
    from collector.broker.remote_config import publish

    ids = _config_targets(kiosk_id, espace, database_url, data_dir)
    try:
        publish(settings_from(mqtt_host=mqtt_host, mqtt_port=mqtt_port), ids, None)
    except PublishFailed as exc:
        raise CliError(str(exc)) from None
    typer.echo(f"configuration cleared on {len(ids)} kiosk(s)")


@kiosks_config_app.command("show")
def kiosks_config_show(
    kiosk_id: str = typer.Argument(None), espace: str = EspaceTargetOpt,
    mqtt_host: str = MqttHostOpt, mqtt_port: int = MqttPortOpt,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Per kiosk: the version published (retained), the version applied, and any refusal."""
    from collector.broker.publisher import PublishFailed
    from collector.broker.remote_config import reported, retained

    ids = _config_targets(kiosk_id, espace, database_url, data_dir)
    try:
        published = retained(settings_from(mqtt_host=mqtt_host, mqtt_port=mqtt_port), ids)
    except PublishFailed as exc:
        raise CliError(str(exc)) from None
    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        for r in reported(session, ids):
            want = published.get(r.kiosk_id)
            want_text = want if isinstance(want, str) else (want.version if want is not None else "-")
            typer.echo(f"{r.kiosk_id}\tpublished {want_text}\tapplied {r.applied or '-'}"
                       f"\t{'refused ' + r.rejected if r.rejected else ''}".rstrip())
