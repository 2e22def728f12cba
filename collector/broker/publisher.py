"""Retained messages for kiosks (their configuration, their desired release): the collector's short connections.

The API (the dashboard's rollout buttons) and the commands (``borne collector fleet``, ``kiosks config``) publish
with an account of their own, not the ingest's: the collector's accounts are bound to the ingest's client ids, so
that nobody holding their password takes the ingest's session, and a second connection with them is refused.
Which account (:func:`credentials`):

1. ``BORNE_MQTT_PUBLISHER_USERNAME`` / ``_PASSWORD`` when set (``borne provision broker collector-account`` makes
   that account on a national Mosquitto: it may write and read kiosks' configuration and release, nothing else);
2. on the embedded broker, its publisher (``borne-publisher``, made by the collector at each start, its password
   in ``<data_dir>/broker-publisher.secret``, 0600): what a command run on the collector's host reads;
3. otherwise ``BORNE_MQTT_USERNAME`` (a broker without accounts, or an account that is not bound).

With several brokers (active-active, ``mqtt_more_brokers``) each keeps its own retained messages: a message is
published on every broker, so that a kiosk gets it whichever it is connected to, and :class:`PublishFailed` names
the brokers that did not take it after all were tried (publishing again is harmless: the message is the same).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from collector.broker import client as mqtt
from collector.broker.client import new_client
from collector.broker.mosquitto import PUBLISHER_SECRET_FILE, PUBLISHER_USER
from collector.config import Settings

_LOG = logging.getLogger(__name__)


class PublishFailed(RuntimeError):
    """A broker did not take the messages (unreachable, refused, or no acknowledgement in time)."""


def credentials(settings: Settings) -> tuple[str | None, str | None]:
    """``(user name, password)`` the publisher connects with (the module's docstring says which)."""
    if settings.mqtt_publisher_username:
        password = settings.mqtt_publisher_password
        return settings.mqtt_publisher_username, password.get_secret_value() if password else None
    if settings.mqtt_accounts == "embedded" or (settings.mqtt_username is None and settings.mqtt_accounts == "none"):
        secret = _read_secret(settings.data_dir / PUBLISHER_SECRET_FILE)
        if secret is not None:
            return PUBLISHER_USER, secret
        if settings.mqtt_accounts == "embedded":
            raise PublishFailed(f"no publisher account yet: the collector makes it, and "
                                f"{settings.data_dir / PUBLISHER_SECRET_FILE}, when it starts its embedded broker "
                                "(borne collector serve; give this command the same --data-dir)")
    password = settings.mqtt_password
    return settings.mqtt_username, password.get_secret_value() if password else None


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, PermissionError):
        return None


def connect(settings: Settings, host: str, port: int, timeout: float = 10.0,
            setup: Callable[[mqtt.Client], None] | None = None) -> mqtt.Client:
    """A connected client (its loop started) on ``host:port``; :class:`PublishFailed` when the broker cannot be
    reached or refuses the account (its reason: "Not authorized", ...). ``setup`` is called before connecting."""
    username, password = credentials(settings)
    # MQTT 5 where the broker speaks it: a publication the ACL refuses is then answered "Not authorized"
    # (MQTT 3.1.1 acknowledges it as if it were taken).
    client = new_client(f"borne-publish-{uuid.uuid4().hex[:12]}", username=username, password=password,
                        tls=settings.mqtt_tls, ca_file=settings.mqtt_ca_file, mqtt5=settings.mqtt_protocol == "5",
                        clean_session=True)
    answered = threading.Event()
    reason: list[str] = []

    def on_connect(c: mqtt.Client, userdata: object, flags: object, code: Any, props: object) -> None:
        if getattr(code, "is_failure", False):
            reason.append(str(code))
        answered.set()

    client.on_connect = on_connect
    if setup is not None:
        setup(client)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise PublishFailed(f"broker {host}:{port} unreachable: {exc}") from None
    client.loop_start()
    if not answered.wait(timeout) or reason:
        close(client)
        why = reason[0] if reason else f"no answer in {timeout:.0f} s"
        raise PublishFailed(f"broker {host}:{port} refused {username or 'an anonymous client'}: {why}")
    return client


def close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def publish_retained(settings: Settings, messages: Mapping[str, bytes], what: str, timeout: float = 10.0) -> None:
    """Publish each ``topic -> payload`` retained (QoS 1; an empty payload clears the topic) on every broker;
    returns once each broker acknowledged them all."""
    failures = []
    for host, port in settings.mqtt_brokers:
        try:
            _publish_on(settings, host, port, messages, what, timeout)
        except PublishFailed as exc:
            _LOG.error("%s not published on %s:%d: %s", what, host, port, exc)
            failures.append(str(exc))
    if failures:
        brokers = len(settings.mqtt_brokers)
        raise PublishFailed(failures[0] if brokers == 1 else
                            f"{what} not taken by {len(failures)} of {brokers} brokers: {'; '.join(failures)}")


def _publish_on(settings: Settings, host: str, port: int, messages: Mapping[str, bytes], what: str,
                timeout: float) -> None:
    refused: dict[int, str] = {}

    def on_publish(c: mqtt.Client, userdata: object, mid: int, code: Any, props: object) -> None:
        if getattr(code, "is_failure", False):
            refused[mid] = str(code)

    client = connect(settings, host, port, timeout, setup=lambda c: setattr(c, "on_publish", on_publish))
    try:
        sent = [(topic, client.publish(topic, payload, qos=1, retain=True)) for topic, payload in messages.items()]
        deadline = time.monotonic() + timeout
        for topic, info in sent:
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except RuntimeError as exc:  # the connection went away
                raise PublishFailed(f"broker {host}:{port} closed the connection: {exc}") from None
            if not info.is_published():
                raise PublishFailed(f"broker {host}:{port} did not acknowledge the {what} in time")
            if info.mid in refused:
                raise PublishFailed(f"broker {host}:{port} refused {topic}: {refused[info.mid]}")
    finally:
        close(client)
