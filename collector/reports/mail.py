"""Who gets which report, and sending them over SMTP.

Subscriptions are a small TOML file the operator keeps (``BORNE_REPORT_SUBSCRIPTIONS``), one entry a person and
zone::

    [[subscription]]
    email = "pref-22@example.gouv.fr"
    level = "departement"     # espace, departement, region or national
    code = "22"

Each zone's report is built once and sent to its subscribers only. SMTP settings come from ``BORNE_SMTP_*``
(host, port, STARTTLS, user, password, sender). Sending is idempotent per month: a month already sent is
recorded in ``reports-sent.json`` beside the subscriptions (or in ``BORNE_DATA_DIR``), so that a daily
schedule sends each month once.
"""

from __future__ import annotations

import json
import logging
import smtplib
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from collector.auth import Level
from collector.reports.monthly import Zone, month_label

_LOG = logging.getLogger(__name__)


class ReportSettings(BaseSettings):
    """Where the subscriptions are and how to reach the SMTP server."""

    model_config = SettingsConfigDict(env_prefix="BORNE_", extra="ignore")

    report_subscriptions: Path | None = Field(None, description="TOML file of [[subscription]] entries.")
    smtp_host: str = Field("localhost", description="SMTP server.")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = Field(False, description="Upgrade the connection with STARTTLS before sending.")
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = Field("borne@localhost", description="The From address.")


class SubscriptionsInvalid(ValueError):
    """The subscriptions file cannot be read; the message says where."""


@dataclass(frozen=True)
class Subscription:
    email: str
    zone: Zone


def read_subscriptions(path: Path) -> list[Subscription]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SubscriptionsInvalid(f"{path}: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("subscription", []), start=1):
        email, level, code = entry.get("email"), entry.get("level"), entry.get("code")
        if not isinstance(email, str) or "@" not in email or "\n" in email or "\r" in email:
            raise SubscriptionsInvalid(f"{path}: subscription {i}: no valid 'email'")
        try:
            zone = Zone(Level(level), None if Level(level) is Level.NATIONAL else str(code))
        except ValueError:
            raise SubscriptionsInvalid(f"{path}: subscription {i}: 'level' must be espace, departement, region "
                                       "or national") from None
        if zone.level is not Level.NATIONAL and not code:
            raise SubscriptionsInvalid(f"{path}: subscription {i}: level {level} needs a 'code'")
        out.append(Subscription(email, zone))
    return out


def message(settings: ReportSettings, zone_name: str, month: date, pdf: bytes, filename: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"Satisfaction des usagers France services : {zone_name}, {month_label(month)}"
    msg["From"] = settings.smtp_sender
    msg["To"] = "undisclosed-recipients:;"  # subscribers do not see each other's address (envelope only)
    msg.set_content(f"Bonjour,\n\nVoici le rapport mensuel de satisfaction des usagers pour {zone_name}, "
                    f"{month_label(month)} (PDF joint).\n\nCe message est envoyé par le collecteur borne "
                    f"parce que vous y êtes abonné.\n")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return msg


def send(settings: ReportSettings, messages: list[tuple[EmailMessage, list[str]]]) -> None:
    """Send each message to its recipients over one SMTP connection (STARTTLS and login when configured)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
        for msg, recipients in messages:
            smtp.send_message(msg, to_addrs=recipients)


def send_month(settings: ReportSettings, month: date, build: Callable[[Zone], tuple[str, bytes, str]],
               *, state: Path | None = None) -> dict[str, list[str]]:
    """Each subscribed zone's report for ``month`` to its subscribers; ``{zone key: recipients}``.

    With ``state``, a month already recorded there is not sent again, and this one is recorded once sent.
    """
    if settings.report_subscriptions is None:
        raise SubscriptionsInvalid("no subscriptions: set BORNE_REPORT_SUBSCRIPTIONS=/path/to/reports.toml")
    sent = json.loads(state.read_text(encoding="utf-8")) if state is not None and state.exists() else []
    if month.isoformat() in sent:
        _LOG.info("reports of %s already sent", month.isoformat())
        return {}
    by_zone: dict[Zone, list[str]] = {}
    for subscription in read_subscriptions(settings.report_subscriptions):
        by_zone.setdefault(subscription.zone, []).append(subscription.email)
    messages: list[tuple[EmailMessage, list[str]]] = []
    out: dict[str, list[str]] = {}
    for zone, recipients in by_zone.items():
        name, pdf, filename = build(zone)
        out[zone.key] = sorted(set(recipients))
        messages.append((message(settings, name, month, pdf, filename), out[zone.key]))
    send(settings, messages)
    if state is not None:
        state.write_text(json.dumps(sorted({*sent, month.isoformat()})), encoding="utf-8")
    _LOG.info("reports of %s sent: %d zones, %d recipients", month.isoformat(), len(out),
              sum(len(r) for r in out.values()))
    return out
