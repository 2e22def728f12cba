"""Kiosks' broker accounts: each kiosk its own MQTT user, bound to its client id, allowed exactly its topics.

The collector makes a kiosk's password (32 random bytes, :func:`new_secret`), returns it once, and keeps only
its hash (``kiosks.secret_hash``, see :func:`hash_secret`). The broker is told through a :class:`BrokerAccounts`:
:class:`DynsecAccounts`, Mosquitto's dynamic security plugin driven over MQTT through
``$CONTROL/dynamic-security/v1`` by an admin client, on a national Mosquitto or on the embedded one (which the
collector starts itself, :mod:`collector.broker.mosquitto`). Changes apply at once, without a reload, from any host that
reaches the broker, and deleting or disabling a client disconnects it.

What a kiosk's account is, so that one kiosk's credentials reach nothing else:

- its user name is ``kiosk:<id>`` (:func:`kiosk_username`): a namespace of its own, which no service account
  (the collector's, the admin's) can fall into, whatever the id; provisioning creates, rewrites and deletes only
  accounts of that namespace, and only those it made (role ``kiosk-<id>``, text name :data:`KIOSK_MARKER`).
  Accounts made before (user name = kiosk id) keep working, are deleted by ``revoke`` if they are provisioning's,
  and ``rotate`` moves them into the namespace;
- it connects with the client id ``kiosk-<id>`` and no other (dynamic security's ``clientid``): it can neither
  knock another kiosk off nor take the collector's session;
- it may publish exactly its votes, status, telemetry and self-test, and subscribe exactly to its receipts and
  configuration (:func:`kiosk_grants`); Mosquitto checks a Last Will's topic against the same rights. At each
  start the collector brings every kiosk's role to exactly those grants (:func:`sync_kiosk_grants`): a kiosk
  provisioned before a topic was added gets it, and never more than its own topics.

With several brokers (active-active, ``mqtt_more_brokers``), each keeps its own accounts: :class:`OnEveryBroker`
makes every change on each of them in turn, so that a kiosk failing over logs in with the same credentials. A
change that fails on one broker (unreachable) raises :class:`AccountsError` after the others were told: each
change is idempotent, so trying it again once that broker is back completes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocol.topics import ROOT, TopicKind, kiosk_client_id, kiosk_topic, valid_kiosk_id

_LOG = logging.getLogger(__name__)

_HASHER = PasswordHasher()
SHA256_PREFIX = "sha256$"
DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
COLLECTOR_ROLE = "borne-collector"
PUBLISHER_ROLE = "borne-publisher"
#: A kiosk's broker user name is this prefix and its id: a namespace no service account is in.
KIOSK_USER_PREFIX = "kiosk:"
#: The text name of every account provisioning made: what it may rewrite or delete.
KIOSK_MARKER = "borne kiosk (made by provisioning)"
KIOSK_PUBLISHES = (TopicKind.VOTES, TopicKind.STATUS, TopicKind.TELEMETRY, TopicKind.SELFTEST)
#: Kiosk ids refused at registration: the names of service accounts, so that no one reading a log or a listing
#: takes a kiosk for one of them (the user names cannot collide anyway: see KIOSK_USER_PREFIX).
RESERVED_IDS = ("admin", "root", "mosquitto", "borne-admin", "borne-collector", "borne-accounts", "borne-config")


class AccountsError(RuntimeError):
    """The broker refused or did not answer an account change; the message says which and why."""


class ReservedKioskId(ValueError):
    """A kiosk id that is not valid, or is the name of a service account."""


def check_kiosk_id(kiosk_id: str) -> str:
    """``kiosk_id`` if it may be a kiosk's; else :class:`ReservedKioskId` saying why."""
    if not valid_kiosk_id(kiosk_id):
        raise ReservedKioskId(f"invalid kiosk id {kiosk_id!r}: lower-case letters, digits and dashes, 2 to 63")
    if kiosk_id in RESERVED_IDS or kiosk_id.startswith(("borne-", "admin-")):
        raise ReservedKioskId(f"kiosk id {kiosk_id!r} is reserved (service accounts): choose another")
    return kiosk_id


def kiosk_id_allowed(kiosk_id: str) -> bool:
    try:
        check_kiosk_id(kiosk_id)
    except ReservedKioskId:
        return False
    return True


def kiosk_username(kiosk_id: str) -> str:
    """The broker user name of kiosk ``kiosk_id``."""
    return KIOSK_USER_PREFIX + check_kiosk_id(kiosk_id)


def new_secret() -> str:
    """A kiosk's MQTT password: 32 random bytes, URL-safe (it goes in a TOML file and an env variable)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """``sha256$<hex>``: a kiosk's secret is 32 random bytes, which no dictionary or brute force reaches, so a
    slow KDF adds nothing but cost, and the broker checks every kiosk again after a restart (``bench/``:
    argon2 ~100 ms a check here, 5,000 kiosks = minutes of a blocked broker). Argon2 hashes, for passwords
    people chose, are still accepted by :func:`verify_secret`."""
    return SHA256_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    if not secret_hash:
        return False
    if secret_hash.startswith(SHA256_PREFIX):
        return hmac.compare_digest(secret_hash, hash_secret(secret))
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Grants:
    """What one account may do: topic filters it may publish to and subscribe to."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def kiosk_grants(kiosk_id: str) -> Grants:
    """Exactly what a kiosk does: publishes its votes, status, telemetry and self-test, and reads its receipts
    and configuration. Not its receipts or configuration (the collector's to write), nor anything else under its
    prefix (a retained message there would be kept by the broker for ever)."""
    if not valid_kiosk_id(kiosk_id):
        raise ValueError(f"invalid kiosk id {kiosk_id!r}")
    return Grants(
        publish=tuple(kiosk_topic(kiosk_id, kind) for kind in KIOSK_PUBLISHES),
        subscribe=(kiosk_topic(kiosk_id, TopicKind.RECEIPTS), kiosk_topic(kiosk_id, TopicKind.CONFIG),
                   kiosk_topic(kiosk_id, TopicKind.RELEASE)),
    )


def collector_grants() -> Grants:
    return Grants(
        publish=(f"{ROOT}/kiosks/+/{TopicKind.RECEIPTS.value}", f"{ROOT}/kiosks/+/{TopicKind.CONFIG.value}",
                 f"{ROOT}/kiosks/+/{TopicKind.RELEASE.value}"),
        # Mosquitto checks a shared subscription's ACL with its ``$share/<group>/`` prefix.
        subscribe=(f"{ROOT}/kiosks/#", f"$share/+/{ROOT}/kiosks/#"),
    )


def publisher_grants() -> Grants:
    """The publisher's (:meth:`DynsecAccounts.ensure_publisher`): write kiosks' retained configuration and desired
    release, and read them back (``borne collector kiosks config`` shows what the broker holds); no vote, no
    receipt, no status."""
    topics = (f"{ROOT}/kiosks/+/{TopicKind.CONFIG.value}", f"{ROOT}/kiosks/+/{TopicKind.RELEASE.value}")
    return Grants(publish=topics, subscribe=topics)


def collector_sessions(username: str, client_id: str | None, workers: int = 0) -> dict[str, str | None]:
    """The collector's accounts, user name -> the client id it is bound to: ``username`` (bound to ``client_id``,
    or not bound), and with ``workers`` one per ingest worker, ``<username>-<n>`` bound to ``<client id>-<n>``
    (what :func:`collector.ingest.workers.worker_username` and ``worker_client_id`` connect with)."""
    sessions: dict[str, str | None] = {username: client_id}
    if workers and client_id:
        for index in range(1, workers + 1):
            suffix = f"-{index}"
            sessions[f"{username}{suffix}"] = client_id[: 64 - len(suffix)] + suffix
    return sessions


class BrokerAccounts(Protocol):
    """What the collector needs from a broker to manage kiosks' accounts."""

    kind: str

    def username(self, kiosk_id: str) -> str:
        """The user name kiosk ``kiosk_id`` connects with (written into its kiosk.toml)."""

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        """Create (or replace) the account of ``kiosk_id``."""

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        """New password; the old one stops working, and a session opened with it is closed."""

    def remove(self, kiosk_id: str) -> None:
        """Delete the account and close its session; removing an unknown account is not an error."""


class NoAccounts:
    """A broker whose accounts the collector does not manage (anonymous, or managed by hand)."""

    kind = "none"

    def username(self, kiosk_id: str) -> str:
        return kiosk_id

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        _LOG.warning("broker accounts are not managed (BORNE_MQTT_ACCOUNTS=none): kiosk %s has none", kiosk_id)

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        self.create(kiosk_id, secret, secret_hash)

    def remove(self, kiosk_id: str) -> None:
        _LOG.warning("broker accounts are not managed: kiosk %s keeps whatever access it had", kiosk_id)


# -- Mosquitto's dynamic security plugin ---------------------------------------------------------------------


def _role(kiosk_id: str) -> str:
    return f"kiosk-{kiosk_id}"


def _acls(grants: Grants) -> list[dict[str, Any]]:
    acls: list[dict[str, Any]] = [{"acltype": "publishClientSend", "topic": t, "allow": True}
                                  for t in grants.publish]
    acls += [{"acltype": "subscribePattern", "topic": t, "allow": True} for t in grants.subscribe]
    return acls


class DynsecAccounts:
    """Mosquitto's accounts through the dynamic security plugin's MQTT API, as its admin user.

    Each call connects, sends its commands in one message, waits for the answers and disconnects: accounts
    change a few times a day, and a held connection would be one more thing to keep alive. The admin's client id
    is random (``borne-accounts-<random>``) and not bound: two account changes at once (two API requests, two
    collectors) each need a connection, and the admin can rewrite every account, its own included, so binding it
    would protect nothing from its holder; kiosks' accounts are bound, so none can take that id.
    """

    def __init__(self, host: str, port: int, username: str, password: str, *, tls: bool = False,
                 ca_file: Path | None = None, timeout: float = 10.0, kind: str = "dynsec") -> None:
        self.host, self.port = host, port
        self.admin_user, self._password = username, password
        self.tls, self.ca_file, self.timeout = tls, ca_file, timeout
        self.kind = kind

    def username(self, kiosk_id: str) -> str:
        return kiosk_username(kiosk_id)

    # -- kiosks ------------------------------------------------------------------------------------------------

    def _owned(self, username: str, kiosk_id: str) -> bool | None:
        """Whether ``username`` is an account provisioning made for ``kiosk_id``; None if there is none."""
        response = self.execute([{"command": "getClient", "username": username}], tolerate=("not found",))[0]
        if response.get("error"):
            return None
        client = response.get("data", {}).get("client", {})
        roles = [r.get("rolename") for r in client.get("roles", [])]
        if roles != [_role(kiosk_id)]:
            return False
        # Accounts made before the namespace (user name = kiosk id) carry the kiosk's role but no marker.
        return username == kiosk_id or client.get("textname") == KIOSK_MARKER

    def _delete(self, username: str, kiosk_id: str, *, strict: bool) -> bool:
        owned = self._owned(username, kiosk_id)
        if owned is None:
            return False
        if not owned:
            if strict:
                raise AccountsError(f"the broker account {username!r} was not made by provisioning for kiosk "
                                    f"{kiosk_id}: left as it is")
            _LOG.warning("broker account %r is not kiosk %s's: left as it is", username, kiosk_id)
            return False
        self.execute([{"command": "deleteClient", "username": username}], tolerate=("not found",))
        return True

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        username = kiosk_username(kiosk_id)
        grants = kiosk_grants(kiosk_id)
        # Idempotent: whatever an earlier, half-done attempt left is replaced, if it is provisioning's.
        self._delete(username, kiosk_id, strict=True)
        self.execute([{"command": "deleteRole", "rolename": _role(kiosk_id)}], tolerate=("not found",))
        self.execute([
            {"command": "createRole", "rolename": _role(kiosk_id), "acls": _acls(grants)},
            {"command": "createClient", "username": username, "password": secret, "textname": KIOSK_MARKER,
             "clientid": kiosk_client_id(kiosk_id), "roles": [{"rolename": _role(kiosk_id)}]},
        ])
        _LOG.info("mosquitto account of kiosk %s created (%s)", kiosk_id, username)

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        username = kiosk_username(kiosk_id)
        owned = self._owned(username, kiosk_id)
        if owned is False:
            raise AccountsError(f"the broker account {username!r} was not made by provisioning: left as it is")
        if owned is None:
            # An account from before the namespace (user name = kiosk id): the new one replaces it, bound and
            # with exact grants; deleting the old one closes its session.
            legacy = self._owned(kiosk_id, kiosk_id)
            self.create(kiosk_id, secret, secret_hash)
            if legacy:
                self.execute([{"command": "deleteClient", "username": kiosk_id}], tolerate=("not found",))
                _LOG.info("kiosk %s's account moved from %r to %r", kiosk_id, kiosk_id, username)
            return
        # Disabling a client disconnects it: a session opened with the old password does not outlive it.
        self.execute([
            {"command": "setClientPassword", "username": username, "password": secret},
            {"command": "disableClient", "username": username},
            {"command": "enableClient", "username": username},
        ])
        _LOG.info("mosquitto password of kiosk %s replaced", kiosk_id)

    def remove(self, kiosk_id: str) -> None:
        check_kiosk_id(kiosk_id)
        self._delete(kiosk_username(kiosk_id), kiosk_id, strict=True)
        self._delete(kiosk_id, kiosk_id, strict=False)  # one from before the namespace, if provisioning's
        self.execute([{"command": "deleteRole", "rolename": _role(kiosk_id)}], tolerate=("not found",))
        _LOG.info("mosquitto account of kiosk %s removed", kiosk_id)

    def ensure_kiosk_grants(self, only: set[str] | None = None, batch: int = 200) -> list[str]:
        """Bring every kiosk's role (``kiosk-<id>``) to exactly :func:`kiosk_grants` of its own id: what a
        kiosk provisioned by an earlier version lacks (a topic added since) is added, and whatever else the role
        holds is removed, so that no kiosk is ever granted more than its own topics. Idempotent (a role already
        right is not written to); run by the collector at each start. A kiosk whose role changed is disconnected
        once, so that it subscribes again with its new rights. ``only``: the kiosks whose roles may be touched
        (the collector passes those its database knows, so that a role someone else named ``kiosk-...`` is left
        alone). The kiosks whose roles were changed."""
        names = self.execute([{"command": "listRoles", "verbose": False, "count": -1}])[0]
        kiosk_ids = [str(name).removeprefix("kiosk-") for name in names.get("data", {}).get("roles", [])
                     if str(name).startswith("kiosk-")]
        kiosk_ids = [k for k in kiosk_ids if kiosk_id_allowed(k) and (only is None or k in only)]
        changed: list[str] = []
        for start in range(0, len(kiosk_ids), batch):
            chunk = kiosk_ids[start:start + batch]
            roles = self.execute([{"command": "getRole", "rolename": _role(k)} for k in chunk],
                                 tolerate=("not found",))
            commands: list[dict[str, Any]] = []
            for kiosk_id, response in zip(chunk, roles, strict=True):
                if response.get("error"):
                    continue  # deleted meanwhile (a revocation)
                held = {(a.get("acltype"), a.get("topic"), bool(a.get("allow")))
                        for a in response.get("data", {}).get("role", {}).get("acls", [])}
                wanted = {(a["acltype"], a["topic"], True) for a in _acls(kiosk_grants(kiosk_id))}
                if held == wanted:
                    continue
                changed.append(kiosk_id)
                commands += [{"command": "removeRoleACL", "rolename": _role(kiosk_id), "acltype": acltype,
                              "topic": topic} for acltype, topic, _ in sorted(held - wanted, key=str)]
                commands += [{"command": "addRoleACL", "rolename": _role(kiosk_id), "acltype": acltype,
                              "topic": topic, "allow": True} for acltype, topic, _ in sorted(wanted - held)]
            if commands:
                self.execute(commands, tolerate=("not found", "already exists"))
                self._reconnect([k for k in chunk if k in changed])
        if changed:
            _LOG.info("broker grants of %d kiosks brought up to date: %s", len(changed),
                      ", ".join(changed[:20]) + (" ..." if len(changed) > 20 else ""))
        return changed

    def _reconnect(self, kiosk_ids: list[str]) -> None:
        """Close the sessions of these kiosks (disabling a client disconnects it): a subscription the broker
        refused is asked again at the reconnection, with the grants of now."""
        usernames = [kiosk_username(k) for k in kiosk_ids]
        usernames += [k for k in kiosk_ids if self._owned(k, k)]  # accounts from before the namespace
        self.execute([command for username in usernames
                      for command in ({"command": "disableClient", "username": username},
                                      {"command": "enableClient", "username": username})],
                     tolerate=("not found",))

    def kiosk_ids(self) -> list[str]:
        """The kiosks that have an account in the namespace."""
        response = self.execute([{"command": "listClients"}])[0]
        names = [str(n) for n in response.get("data", {}).get("clients", [])]
        return [n.removeprefix(KIOSK_USER_PREFIX) for n in names if n.startswith(KIOSK_USER_PREFIX)]

    # -- the collector -----------------------------------------------------------------------------------------

    def ensure_collector(self, username: str, password: str, client_id: str | None = None) -> None:
        """Create or update the collector's own account (reads every kiosk topic, writes receipts/config)."""
        self.ensure_collectors({username: client_id}, password)

    def ensure_collectors(self, sessions: dict[str, str | None], password: str) -> None:
        """The collector's accounts, user name -> the client id it is bound to (None: not bound), with one
        password; each account made again."""
        for username in sessions:
            if username.startswith(KIOSK_USER_PREFIX) or username == self.admin_user:
                raise AccountsError(f"{username!r} cannot be a collector's account (a kiosk's or the admin's)")
        # The role is shared by every collector host's accounts: made once, its grants added if missing, never
        # deleted (deleting it would take it from the other hosts' accounts).
        self.execute([{"command": "createRole", "rolename": COLLECTOR_ROLE},
                      *({"command": "addRoleACL", "rolename": COLLECTOR_ROLE, **acl}
                        for acl in _acls(collector_grants()))], tolerate=("already exists",))
        self.execute([{"command": "deleteClient", "username": u} for u in sessions], tolerate=("not found",))
        self.execute([
            *({"command": "createClient", "username": username, "password": password,
               "textname": "borne collector", "roles": [{"rolename": COLLECTOR_ROLE}],
               **({"clientid": client_id} if client_id else {})} for username, client_id in sessions.items()),
        ])

    def ensure_publisher(self, username: str, password: str) -> None:
        """Create or reset the publisher account: not bound to a client id (the API's requests and the commands
        each connect with a random one), allowed only :func:`publisher_grants`."""
        if username.startswith(KIOSK_USER_PREFIX) or username == self.admin_user:
            raise AccountsError(f"{username!r} cannot be the publisher's account (a kiosk's or the admin's)")
        self.execute([{"command": "createRole", "rolename": PUBLISHER_ROLE},
                      *({"command": "addRoleACL", "rolename": PUBLISHER_ROLE, **acl}
                        for acl in _acls(publisher_grants()))], tolerate=("already exists",))
        self.execute([{"command": "deleteClient", "username": username}], tolerate=("not found",))
        self.execute([{"command": "createClient", "username": username, "password": password,
                       "textname": "borne publisher", "roles": [{"rolename": PUBLISHER_ROLE}]}])

    # -- the API -----------------------------------------------------------------------------------------------

    def execute(self, commands: list[dict[str, Any]], *, tolerate: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Send ``commands``; raise :class:`AccountsError` on an error not containing one of ``tolerate``."""
        responses = self._send(commands)
        for response in responses:
            error = response.get("error")
            if error and not any(t in str(error).lower() for t in tolerate):
                raise AccountsError(f"mosquitto refused {response.get('command')}: {error}")
        return responses

    def _send(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from collector.broker import client as mqtt

        done = threading.Event()
        connected = threading.Event()
        answer: dict[str, Any] = {}
        refused: list[str] = []
        client = mqtt.new_client(f"borne-accounts-{uuid.uuid4().hex[:12]}", username=self.admin_user,
                                 password=self._password, tls=self.tls, ca_file=self.ca_file)

        def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: Any, props: object) -> None:
            if getattr(reason, "is_failure", False):
                refused.append(str(reason))
                done.set()
                return
            c.subscribe(f"{DYNSEC_TOPIC}/response", qos=1)

        def on_subscribe(c: mqtt.Client, userdata: object, mid: int, reasons: Any, props: object) -> None:
            if any(getattr(r, "is_failure", False) for r in reasons):
                refused.append("not allowed to read the dynamic security responses")
                done.set()
                return
            connected.set()
            c.publish(DYNSEC_TOPIC, json.dumps({"commands": commands}), qos=1)

        def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
            try:
                answer.update(json.loads(message.payload))
            except ValueError:
                return
            done.set()

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise AccountsError(f"cannot reach the broker at {self.host}:{self.port}: {exc}") from None
        client.loop_start()
        try:
            if not done.wait(self.timeout):
                what = "answer" if connected.is_set() else "accept the admin connection"
                raise AccountsError(f"mosquitto at {self.host}:{self.port} did not {what} in {self.timeout:.0f}s"
                                    " (is the dynamic security plugin loaded?)")
        finally:
            client.disconnect()
            client.loop_stop()
        if refused:
            raise AccountsError(f"mosquitto refused the accounts admin {self.admin_user!r}: {refused[0]}")
        responses: list[dict[str, Any]] = answer.get("responses", [])
        return responses


# -- wiring -------------------------------------------------------------------------------------------------

EMBEDDED_COLLECTOR_USER = "borne-collector"


def accounts_for(settings: Any, broker: Any = None) -> BrokerAccounts:
    """The accounts backend ``settings`` (a :class:`collector.config.Settings`) asks for.

    On the embedded broker (``broker``, started, :class:`collector.broker.EmbeddedBroker`) this also makes the
    collector's own accounts, with a new random password for this run, and sets them in ``settings`` for the
    ingest to connect with: one account per MQTT session, bound to its client id (the collector's, or each
    ingest worker's ``<client id>-<n>`` as ``borne-collector-<n>``).
    """
    if settings.mqtt_accounts == "dynsec":
        if not settings.mqtt_admin_username or settings.mqtt_admin_password is None:
            raise AccountsError("BORNE_MQTT_ACCOUNTS=dynsec needs BORNE_MQTT_ADMIN_USERNAME and "
                                "BORNE_MQTT_ADMIN_PASSWORD (the dynamic security admin)")
        each = [DynsecAccounts(host, port, settings.mqtt_admin_username,
                               settings.mqtt_admin_password.get_secret_value(), tls=settings.mqtt_tls,
                               ca_file=settings.mqtt_ca_file) for host, port in settings.mqtt_brokers]
        return each[0] if len(each) == 1 else OnEveryBroker(each)
    if settings.mqtt_accounts == "embedded":
        from pydantic import SecretStr

        from collector.ingest.workers import worker_client_id, worker_username

        if broker is None:
            raise AccountsError("BORNE_MQTT_ACCOUNTS=embedded needs the embedded broker (BORNE_EMBEDDED_BROKER, "
                                "borne collector serve --broker embedded)")
        user, admin_password, host, port = broker.admin()
        accounts = DynsecAccounts(host, port, user, admin_password, kind="embedded")
        password = new_secret()
        settings.mqtt_username, settings.mqtt_password = EMBEDDED_COLLECTOR_USER, SecretStr(password)
        if settings.ingest_workers > 1:
            sessions: dict[str, str | None] = {worker_username(settings, i) or EMBEDDED_COLLECTOR_USER:
                                               worker_client_id(settings, i)
                                               for i in range(settings.ingest_workers)}
        else:
            sessions = {EMBEDDED_COLLECTOR_USER: settings.mqtt_client_id}
        accounts.ensure_collectors(sessions, password)
        # The API's rollout buttons and the commands on this host publish as the publisher (its password in
        # data_dir), since the accounts above are bound to the ingest's client ids.
        publisher, publisher_password = broker.publisher()
        accounts.ensure_publisher(publisher, publisher_password)
        settings.mqtt_publisher_username = publisher
        settings.mqtt_publisher_password = SecretStr(publisher_password)
        return accounts
    return NoAccounts()


class OnEveryBroker:
    """The same accounts on each of several brokers' dynamic security plugins."""

    def __init__(self, brokers: list[DynsecAccounts]) -> None:
        self.brokers = brokers
        self.kind = brokers[0].kind

    def username(self, kiosk_id: str) -> str:
        return self.brokers[0].username(kiosk_id)

    def _each(self, what: str, change: Any) -> None:
        failures = []
        for broker in self.brokers:
            try:
                change(broker)
            except (AccountsError, OSError, TimeoutError) as exc:
                _LOG.error("%s failed on broker %s:%d: %s", what, broker.host, broker.port, exc)
                failures.append(f"{broker.host}:{broker.port}: {exc}")
        if failures:
            raise AccountsError(f"{what} failed on {len(failures)} of {len(self.brokers)} brokers (done on the "
                                f"others; try again once they answer): {'; '.join(failures)}")

    def create(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        self._each(f"kiosk {kiosk_id}'s account", lambda b: b.create(kiosk_id, secret, secret_hash))

    def set_secret(self, kiosk_id: str, secret: str, secret_hash: str) -> None:
        self._each(f"kiosk {kiosk_id}'s new password", lambda b: b.set_secret(kiosk_id, secret, secret_hash))

    def remove(self, kiosk_id: str) -> None:
        self._each(f"removing kiosk {kiosk_id}'s account", lambda b: b.remove(kiosk_id))


def sync_revoked(accounts: BrokerAccounts, engine: Any) -> None:
    """Remove the broker accounts of kiosks the database says are revoked or unknown (a revocation made while
    the broker was away, a database restored from a backup): the database has the last word on who may connect.
    Accounts cannot be made from the database, which keeps only hashes: a lost dynamic-security.json means
    rotating the kiosks' passwords."""
    if not isinstance(accounts, DynsecAccounts) or accounts.kind != "embedded":
        return
    from sqlalchemy import select

    from collector.db.engine import session_factory
    from collector.db.models import Kiosk

    with session_factory(engine)() as session:
        live = {k for k, in session.execute(select(Kiosk.id).where(Kiosk.revoked_at.is_(None)))}
    for kiosk_id in accounts.kiosk_ids():
        if kiosk_id not in live:
            _LOG.warning("kiosk %s has a broker account but is revoked or unknown: account removed", kiosk_id)
            accounts.remove(kiosk_id)


def sync_kiosk_grants(accounts: BrokerAccounts, engine: Any) -> list[str]:
    """The broker grants of every kiosk the database knows (not revoked) brought to the current set
    (:meth:`DynsecAccounts.ensure_kiosk_grants`) when the collector manages the accounts: kiosks provisioned
    before a topic was added get it at the next start. A broker that refuses or does not answer is logged, not
    raised."""
    if not isinstance(accounts, DynsecAccounts):
        return []
    from sqlalchemy import select

    from collector.db.engine import session_factory
    from collector.db.models import Kiosk

    with session_factory(engine)() as session:
        live = {k for k, in session.execute(select(Kiosk.id).where(Kiosk.revoked_at.is_(None)))}
    try:
        return accounts.ensure_kiosk_grants(live)
    except AccountsError as exc:
        # Not a reason to stop collecting votes: the next start tries again.
        _LOG.error("kiosks' broker grants not brought up to date: %s", exc)
        return []


def kiosk_broker(settings: Any) -> dict[str, Any]:
    """Where kiosks reach the broker, as the provisioning API reports it (CA certificate included for TLS)."""
    tls = settings.mqtt_tls if settings.kiosk_mqtt_tls is None else settings.kiosk_mqtt_tls
    ca_pem = None
    if tls and settings.mqtt_ca_file:
        try:
            ca_pem = Path(settings.mqtt_ca_file).read_text(encoding="ascii")
        except OSError as exc:
            _LOG.error("cannot read the broker's CA certificate %s: %s", settings.mqtt_ca_file, exc)
    more = settings.mqtt_more_brokers if settings.kiosk_mqtt_more_brokers is None else settings.kiosk_mqtt_more_brokers
    return {"host": settings.kiosk_mqtt_host or settings.mqtt_host,
            "port": settings.kiosk_mqtt_port or settings.mqtt_port, "tls": bool(tls), "ca_pem": ca_pem,
            "others": [a.strip() for a in more.split(",") if a.strip()]}
