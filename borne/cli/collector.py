"""``borne collector``: serve, and manage espaces and kiosks."""

from __future__ import annotations

import logging
import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from borne.cli.errors import CliError, requires
from borne.cli.report import app as report_app

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


def say_database(url: str) -> None:
    """Which database a command opens (on stderr, its password hidden): a wrong --data-dir shows at once."""
    from collector.db.engine import redact_url

    typer.echo(f"database: {redact_url(url)}", err=True)


def open_db(database_url: str | None, data_dir: Path | None) -> Any:
    """Settings and a sessionmaker on the configured database, its schema in place."""
    with requires("collector"):
        from collector.db.engine import engine_for, session_factory
        from collector.db.migrate import SchemaOutdated, ensure_current
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    say_database(settings.effective_database_url)
    engine = engine_for(settings)
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
        from collector.service import Collector
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
    from collector.registry.espaces import add_espace
    from collector.registry.geography import UnknownDepartement

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
        from collector.db.engine import engine_for, redact_url
        from collector.db.migrate import current_revision, upgrade
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    engine = engine_for(settings)
    before = current_revision(engine)
    upgrade(engine, revision)
    typer.echo(f"{redact_url(settings.effective_database_url)}: {before or 'empty'} -> {current_revision(engine)}")


@db_app.command("current")
def db_current(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Print the database's schema revision and the code's."""
    with requires("collector"):
        from collector.db.engine import engine_for
        from collector.db.migrate import current_revision, head_revision
    settings = settings_from(database_url=database_url, data_dir=data_dir)
    say_database(settings.effective_database_url)
    engine = engine_for(settings)
    typer.echo(f"database: {current_revision(engine) or 'none'}\ncode:     {head_revision()}")


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
    from collector.broker.remote_config import KioskConfigError, PublishFailed, build, parse_hours, publish

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
    from collector.broker.remote_config import PublishFailed, publish

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
    from collector.broker.remote_config import PublishFailed, reported, retained

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


# -- Espaces list, activity, users, KPIs and alerts ---------------------------------------------

activity_app = typer.Typer(no_args_is_help=True, help="Acts carried out (participation's denominator).")
users_app = typer.Typer(no_args_is_help=True, help="API users and tokens: add, list, revoke.")
kpi_app = typer.Typer(no_args_is_help=True, help="KPIs: exports and targets.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts: evaluate the rules, list.")
app.add_typer(activity_app, name="activity")
app.add_typer(users_app, name="users")
app.add_typer(kpi_app, name="kpi")
app.add_typer(alerts_app, name="alerts")
app.add_typer(report_app, name="report")


@espaces_app.command("import")
def espaces_import(
    source: str = typer.Argument(..., help="The ANCT list (liste-fs-*.csv): a path or an http(s) URL."),
    close_missing: bool = typer.Option(True, "--close-missing/--no-close",
                                       help="Close the espaces the list no longer holds."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Import (upsert) the ANCT list of France services; bad rows are reported and the rest imported."""
    from rich.progress import Progress

    from collector.registry.espaces_import import ImportFailed, import_espaces

    sessions = open_db(database_url, data_dir)
    with Progress(transient=True) as bar, sessions() as session, session.begin():
        task = bar.add_task("importing espaces", total=None)
        try:
            report = import_espaces(session, source, close_missing=close_missing,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
        except ImportFailed as exc:
            raise CliError(str(exc), 2) from None
    for bad in report.bad:
        typer.echo(f"line {bad.line}: {bad.reason} (id_fs {bad.id_fs or '-'})", err=True)
    typer.echo(report.summary())


@espaces_app.command("list")
def espaces_list(
    departement: str = typer.Option(None, "--departement"), closed: bool = typer.Option(False, "--closed"),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Espaces (open ones, or closed ones with --closed), optionally of one département."""
    from sqlalchemy import select

    from collector.db.models import Espace

    sessions = open_db(database_url, data_dir)
    query = select(Espace).order_by(Espace.departement, Espace.id)
    query = query.where(Espace.closed_at.is_not(None) if closed else Espace.closed_at.is_(None))
    if departement:
        query = query.where(Espace.departement == departement.upper().zfill(2))
    with sessions() as session:
        for e in session.scalars(query):
            typer.echo(f"{e.id}\t{e.departement}\t{e.region}\t{e.kind}\t{e.format or '-'}\t{e.name}")


@activity_app.command("import")
def activity_import(
    source: str = typer.Argument(..., help="espace_id,month,actes CSV, or the barometer's IND-323 CSV."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Import acts carried out per espace and month, or per département (IND-323)."""
    from collector.registry.activity import import_activity
    from collector.registry.espaces_import import ImportFailed

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            report = import_activity(session, source)
        except ImportFailed as exc:
            raise CliError(str(exc), 2) from None
    for bad in report.bad:
        typer.echo(f"line {bad.line}: {bad.reason}", err=True)
    typer.echo(report.summary())


ExpiresOpt = typer.Option(None, "--expires", help="The token expires after this long: 90d, 12w, 8h (default: never).")
ExpiresAtOpt = typer.Option(None, "--expires-at", help="The token works through this day (UTC), YYYY-MM-DD.")


@users_app.command("add")
def users_add(
    name: str,
    role: str = typer.Option(..., "--role", help="admin, national, prefecture or agent."),
    scope: str = typer.Option(None, "--scope", help="The département of a prefecture user, the espace of an agent."),
    expires: str = ExpiresOpt, expires_at: str = ExpiresAtOpt,
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Add a user and print its API token, once: it is kept only hashed."""
    from collector.auth import AuthError, Role, add_user, expiry, issue_token

    if role not in {r.value for r in Role}:
        raise CliError(f"unknown role {role!r}: admin, national, prefecture or agent", 2)
    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            until = expiry(expires, expires_at)
            token = issue_token(session, add_user(session, name, role, scope), expires_at=until)
        except AuthError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"user {name} ({role}{' ' + scope if scope else ''}); its token, shown only now:\n{token}")


@users_app.command("token")
def users_token(name: str, expires: str = ExpiresOpt, expires_at: str = ExpiresAtOpt,
                database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Issue another token to an existing user (shown once)."""
    from sqlalchemy import select

    from collector.auth import AuthError, expiry, issue_token
    from collector.db.models import User

    try:
        until = expiry(expires, expires_at)
    except AuthError as exc:
        raise CliError(str(exc), 2) from None
    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        user = session.scalar(select(User).where(User.name == name, User.disabled_at.is_(None)))
        if user is None:
            raise CliError(f"no active user {name!r}", 2)
        token = issue_token(session, user, expires_at=until)
    typer.echo(token)


@users_app.command("list")
def users_list(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Users with their role, scope and tokens (prefixes only, with their expiry)."""
    from datetime import UTC, datetime

    from collector.auth import list_users

    now = datetime.now(UTC)
    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        for user, tokens in list_users(session):
            active = [t.prefix if t.expires_at is None else
                      f"{t.prefix} ({'expired' if t.expires_at <= now else 'expires'} {t.expires_at:%Y-%m-%d %H:%M})"
                      for t in tokens if t.revoked_at is None]
            state = "disabled" if user.disabled_at else "active"
            typer.echo(f"{user.name}\t{user.role}\t{user.scope or '-'}\t{state}\ttokens: {', '.join(active) or '-'}")


@users_app.command("revoke")
def users_revoke(
    name_or_prefix: str = typer.Argument(..., help="A user's name (all its tokens) or a token's prefix."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Revoke a token, or every token of a user (and disable the user)."""
    from collector.auth import AuthError, revoke

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            count = revoke(session, name_or_prefix)
        except AuthError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"{count} token(s) revoked")


class KpiExport(StrEnum):
    satisfaction = "satisfaction"
    ranking = "ranking"
    heatmap = "heatmap"
    participation = "participation"
    ind_246 = "ind-246"


@kpi_app.command("export")
def kpi_export(
    what: KpiExport,
    out: Path = typer.Option(..., "--out", "-o", help="The file to write (.csv or .parquet)."),
    level: str = typer.Option("national", "--level", help="espace, departement, region or national."),
    code: str = typer.Option(None, "--code"),
    start: str = typer.Option(None, "--from", help="First local day, YYYY-MM-DD."),
    end: str = typer.Option(None, "--to", help="Day after the last, YYYY-MM-DD."),
    granularity: str = typer.Option("month", "--granularity", help="day, week, month, quarter or year."),
    include_misuse: bool = typer.Option(False, "--include-misuse"),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Write a KPI table as CSV or Parquet (by the file's extension); ind-246 in the barometer's format."""
    from datetime import date

    from collector.kpi import barometer, indicators
    from collector.kpi.export import to_bytes
    from collector.kpi.selection import Selection, SelectionError

    fmt = "parquet" if out.suffix == ".parquet" else "csv"
    try:
        lo = date.fromisoformat(start) if start else None
        hi = date.fromisoformat(end) if end else None
    except ValueError as exc:
        raise CliError(str(exc), 2) from None
    sessions = open_db(database_url, data_dir)
    with sessions() as session:
        try:
            if what is KpiExport.ind_246:
                frame = barometer.ind246(session, lo, hi, granularity=granularity, include_misuse=include_misuse)
                data = barometer.to_csv(frame).encode() if fmt == "csv" else to_bytes(frame, fmt)
            else:
                selection = Selection.make(session, level, code, start=lo, end=hi, include_misuse=include_misuse)
                if what is KpiExport.satisfaction:
                    frame = indicators.satisfaction(session, selection, granularity).series
                elif what is KpiExport.ranking:
                    frame = indicators.ranking(session, selection)
                elif what is KpiExport.heatmap:
                    frame = indicators.heatmap(session, selection)
                else:
                    frame = indicators.participation(session, selection, granularity)
                data = to_bytes(frame, fmt)
        except (SelectionError, ValueError) as exc:
            raise CliError(str(exc), 2) from None
    out.write_bytes(data)
    typer.echo(f"{what.value}: {len(frame)} rows written to {out}")


@kpi_app.command("target")
def kpi_target(
    level: str = typer.Argument(..., help="espace, departement, region or national."),
    target: float = typer.Argument(..., help="In %, e.g. 95."),
    code: str = typer.Option(None, "--code", help="One zone of the level; all of them without it."),
    database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Set the satisfaction target of a level, or of one zone of it (default 95 %)."""
    from collector.kpi.targets import set_target

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        try:
            set_target(session, level, code, target)
        except ValueError as exc:
            raise CliError(str(exc), 2) from None
    typer.echo(f"target of {level} {code or '(all)'}: {target:g} %")


@alerts_app.command("check")
def alerts_check(database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt) -> None:
    """Evaluate the alert rules now: raise and clear alerts."""
    from collector.alerts import evaluate

    sessions = open_db(database_url, data_dir)
    with sessions() as session, session.begin():
        result = evaluate(session)
        for alert in result.raised:
            typer.echo(f"raised\t{alert.rule}\t{alert.subject}\t{alert.detail}")
        for alert in result.cleared:
            typer.echo(f"cleared\t{alert.rule}\t{alert.subject}")
    typer.echo(f"{len(result.raised)} raised, {len(result.cleared)} cleared")


@alerts_app.command("list")
def alerts_list(
    open_only: bool = typer.Option(False, "--open"), database_url: str = DatabaseOpt, data_dir: Path = DataDirOpt,
) -> None:
    """Alerts, newest first, with the time raised and cleared."""
    from sqlalchemy import select

    from collector.db.models import Alert

    sessions = open_db(database_url, data_dir)
    query = select(Alert).order_by(Alert.raised_at.desc()).limit(500)
    if open_only:
        query = query.where(Alert.cleared_at.is_(None))
    with sessions() as session:
        for a in session.scalars(query):
            typer.echo(f"{a.raised_at:%Y-%m-%d %H:%M}\t{a.cleared_at or 'open'}\t{a.rule}\t{a.subject}\t{a.detail}")
