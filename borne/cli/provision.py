"""``borne provision``: register and prepare kiosks.

``borne provision kiosk new --espace ID --collector URL --out DIR`` registers a kiosk, gets its MQTT password
(shown once: it is only written into ``DIR/kiosk.toml``) and writes the SD card's bundle and the label.
The collector's address and an admin token come from ``--collector`` or ``BORNE_COLLECTOR_URL``, and
``BORNE_ADMIN_TOKEN`` or a prompt. Secrets given on the command line work, with a warning. What the kiosk's first
boot installs is pinned: ``--wheel`` or a hash-pinned ``--requirement`` file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from borne.cli.errors import CliError, requires
from borne.cli.secret_input import warn_on_command_line

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)
kiosk_app = typer.Typer(no_args_is_help=True, help="Kiosks: new, verify, revoke, rotate, move, list, label.")
app.add_typer(kiosk_app, name="kiosk")

Collector = Annotated[str, typer.Option("--collector", envvar="BORNE_COLLECTOR_URL",
                                        help="The collector's API, e.g. https://collecteur.example.fr")]
Token = Annotated[str, typer.Option("--token", envvar="BORNE_ADMIN_TOKEN", show_default=False, prompt="Admin API token",
                                    hide_input=True, callback=warn_on_command_line,
                                    help="An admin API token: in BORNE_ADMIN_TOKEN, or asked for (not on the command "
                                         "line, which others can see).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the collector's answer as JSON.")]


def _client(collector: str, token: str) -> Any:
    with requires("provisioning"):
        from provisioning.client import CollectorClient, ProvisionError
    try:
        return CollectorClient(collector, token)
    except ProvisionError as exc:
        raise CliError(str(exc), exit_code=2) from None


def _call(collector: str, token: str, method: str, *args: Any) -> Any:
    from provisioning.client import ProvisionError

    with _client(collector, token) as client:
        try:
            return getattr(client, method)(*args)
        except ProvisionError as exc:
            raise CliError(str(exc)) from None


def _updates(release_key: Path | None, update_url: str | None,
             allow_local: bool = False) -> tuple[str | None, str | None]:
    """The kiosk's ``[update]`` settings: the programme's public release key (``--release-key`` file, else
    BORNE_RELEASE_PUBLIC_KEY) and the collector's API as kiosks reach it (``--update-url``, else
    BORNE_KIOSK_UPDATE_URL); both or neither (a kiosk without both takes no update)."""
    key = os.environ.get("BORNE_RELEASE_PUBLIC_KEY") or None
    if release_key is not None:
        with requires("provisioning"):
            from protocol.release import ReleaseInvalid
            from provisioning.release import read_public_key
        try:
            key = read_public_key(release_key)
        except ReleaseInvalid as exc:
            raise CliError(f"--release-key: {exc}", exit_code=2) from None
    if (key is None) != (update_url is None):
        given, missing = ("--release-key", "--update-url") if key else ("--update-url", "--release-key")
        raise CliError(f"{given} without {missing}: a kiosk takes updates only with both (or set "
                       "BORNE_RELEASE_PUBLIC_KEY and BORNE_KIOSK_UPDATE_URL)", exit_code=2)
    if update_url is not None:
        # The kiosk sends its own credentials there (HTTP Basic): never in clear over the network.
        local = allow_local and update_url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if not (update_url.startswith("https://") or local):
            raise CliError(f"--update-url {update_url!r}: https:// is needed (the kiosk sends its credentials "
                           "there)", exit_code=2)
    return key, update_url


def _update_ca(update_ca: Path | None, updates: tuple[str | None, str | None]) -> str | None:
    """The update server's CA (``--update-ca``, else BORNE_KIOSK_UPDATE_CA): certificates only, for a kiosk that
    takes updates. Without it the kiosk checks the update server against the system's CAs and, with TLS, the
    broker's CA (kiosk/update.py): a collector whose certificate comes from the programme's own CA, the one
    that signed the broker's, needs no second copy; one with a public certificate needs nothing."""
    if update_ca is None:
        return None
    if updates[1] is None:
        raise CliError("--update-ca without --update-url: the CA is only for the kiosk's updates (or unset "
                       "BORNE_KIOSK_UPDATE_CA)", exit_code=2)
    with requires("provisioning"):
        from provisioning.certificates import CertificateInvalid, read_ca_certificates
    try:
        return read_ca_certificates(update_ca)
    except CertificateInvalid as exc:
        raise CliError(f"--update-ca: {exc}", exit_code=2) from None


ReleaseKey = Annotated[Path | None, typer.Option(
    "--release-key", help="The programme's public release key ('borne release keygen' writes it as KEY.pub); "
                          "default: BORNE_RELEASE_PUBLIC_KEY (the key itself).")]
UpdateUrl = Annotated[str | None, typer.Option(
    "--update-url", envvar="BORNE_KIOSK_UPDATE_URL",
    help="The collector's API as kiosks reach it (https://...), to fetch releases from.")]
UpdateCa = Annotated[Path | None, typer.Option(
    "--update-ca", envvar="BORNE_KIOSK_UPDATE_CA",
    help="The CA certificate (PEM) of the update server's HTTPS, when a private CA signed it: put in the bundle, "
         "the kiosk trusts it alone for updates. Default: the system's CAs and the broker's CA (--ca-file).")]


def _bundle_options(ui: str, hostname: str | None, ssh_key: list[Path] | None, wifi_ssid: str | None,
                    wifi_password: str | None, wheel: Path | None, requirement: Path | None, *,
                    wheelhouse: Path | None = None, updates: tuple[str | None, str | None] | None = None,
                    update_ca_pem: str | None = None) -> Any:
    from provisioning.bundle import BundleError, BundleOptions, check_install

    keys = []
    for path in ssh_key or []:
        try:
            keys.append(path.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise CliError(f"{path}: {exc.strerror}", exit_code=2) from None
    if wifi_ssid and wifi_password is None:
        wifi_password = typer.prompt(f"Wi-Fi password of {wifi_ssid} (empty for an open network)", default="",
                                     show_default=False, hide_input=True)
    release_key, update_url = updates if updates is not None else _updates(None, None)
    options = BundleOptions(ui=ui, hostname=hostname, ssh_keys=keys, wifi_ssid=wifi_ssid, wifi_password=wifi_password,
                            wheel=wheel, requirement=requirement, wheelhouse=wheelhouse, release_key=release_key,
                            update_url=update_url, update_ca_pem=update_ca_pem)
    try:
        check_install(options)
    except BundleError as exc:
        raise CliError(str(exc), exit_code=2) from None
    return options


def _override_broker(credentials: dict[str, Any], host: str | None, port: int | None, tls: bool | None,
                     ca_file: Path | None, ca_pem: str | None = None) -> None:
    broker = dict(credentials.get("broker") or {})
    if host:
        broker["host"] = host
    if port:
        broker["port"] = port
    if tls is not None:
        broker["tls"] = tls
    if ca_file is not None:
        broker["ca_pem"] = ca_pem if ca_pem is not None else _broker_ca(ca_file)
        broker["tls"] = True if tls is None else tls
    if broker.get("tls") and not broker.get("ca_pem"):
        _LOG.warning("TLS without a CA certificate: the kiosk will check the broker against the system's CAs")
    credentials["broker"] = broker


def _broker_ca(ca_file: Path) -> str:
    """The broker's CA (``--ca-file``), checked as the update server's is: certificates only."""
    with requires("provisioning"):
        from provisioning.certificates import CertificateInvalid, read_ca_certificates
    try:
        return read_ca_certificates(ca_file)
    except CertificateInvalid as exc:
        raise CliError(f"--ca-file: {exc}", exit_code=2) from None


BrokerHost = Annotated[str | None, typer.Option("--broker-host", help="The broker as kiosks reach it "
                                                                      "(default: what the collector says).")]
BrokerPort = Annotated[int | None, typer.Option("--broker-port", help="Its port (8883 with TLS).")]
BrokerTls = Annotated[bool | None, typer.Option("--tls/--no-tls", help="Kiosks connect with TLS.")]
CaFile = Annotated[Path | None, typer.Option("--ca-file", help="The broker's CA certificate, put in the bundle.")]


Wheel = Annotated[Path | None, typer.Option(help="The borne wheel the kiosk installs (copied onto the card).")]
Requirement = Annotated[Path | None, typer.Option(
    help="A requirements file, every line pinned by hash (pip-compile --generate-hashes), borne[kiosk] (or "
         "borne[touch]) included: what the kiosk installs (copied onto the card).")]


@kiosk_app.command("new")
def new(
    espace: Annotated[str, typer.Option("--espace", help="The espace's id (ANCT matricule).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the bundle (the SD card's boot partition).")],
    collector: Collector,
    token: Token = "",
    kiosk_id: Annotated[str | None, typer.Option("--id", help="The kiosk's id (default: made up).")] = None,
    ui: Annotated[str, typer.Option(help="gpio (buttons) or touch (touchscreen).")] = "gpio",
    hostname: Annotated[str | None, typer.Option(help="The Pi's host name (default: borne-<id>).")] = None,
    ssh_key: Annotated[list[Path] | None, typer.Option(help="A public key for the 'admin' SSH user.")] = None,
    wifi_ssid: Annotated[str | None, typer.Option(help="Wi-Fi network (default: Ethernet only).")] = None,
    wifi_password: Annotated[str | None, typer.Option(envvar="BORNE_WIFI_PASSWORD", callback=warn_on_command_line,
                                                      show_default=False,
                                                      help="In BORNE_WIFI_PASSWORD, or asked for.")] = None,
    wheel: Wheel = None,
    requirement: Requirement = None,
    broker_host: BrokerHost = None,
    broker_port: BrokerPort = None,
    tls: BrokerTls = None,
    ca_file: CaFile = None,
    label: Annotated[bool, typer.Option("--label/--no-label", help="Write label.png too.")] = True,
    wheelhouse: WheelhouseDir = None,
    allow_local_collector: AllowLocalCollector = False,
    pin_factory: PinFactory = None,
    release_key: ReleaseKey = None,
    update_url: UpdateUrl = None,
    update_ca: UpdateCa = None,
) -> None:
    """Register a kiosk at an espace and write its SD card bundle (kiosk.toml, user-data, ...)."""
    if ui not in ("gpio", "touch"):
        raise CliError("--ui is gpio or touch", exit_code=2)
    updates = _updates(release_key, update_url, allow_local_collector)
    options = _bundle_options(ui, hostname, ssh_key, wifi_ssid, wifi_password, wheel, requirement,  # before registering
                              wheelhouse=_checked_wheelhouse(wheelhouse, ui), updates=updates,
                              update_ca_pem=_update_ca(update_ca, updates))
    options.pin_factory = _checked_pin_factory(pin_factory)
    if broker_host is not None and not allow_local_collector:
        _check_broker_host(broker_host)
    broker_ca = _broker_ca(ca_file) if ca_file is not None else None  # before registering too
    credentials = _call(collector, token, "register", espace, kiosk_id)
    _override_broker(credentials, broker_host, broker_port, tls, ca_file, broker_ca)
    if not allow_local_collector:
        try:
            _check_broker_host(str((credentials.get("broker") or {}).get("host", "")))
        except CliError as exc:
            kiosk = credentials["kiosk_id"]
            raise CliError(f"{exc}; kiosk {kiosk} is registered but has no bundle: write it with 'borne provision "
                           f"kiosk rotate {kiosk} --out {out} --broker-host HOST'", exit_code=2) from None
    _write(out, credentials, options, label)
    typer.echo(f"kiosk {credentials['kiosk_id']} registered at {credentials['espace_name']} "
               f"({credentials['espace_id']}); bundle in {out}")
    if credentials.get("accounts") == "none":
        typer.echo("warning: the collector does not manage broker accounts (BORNE_MQTT_ACCOUNTS=none): the broker "
                   "does not enforce this kiosk's password nor its topics", err=True)
    typer.echo("Copy the bundle onto the SD card's boot partition, boot the kiosk, run 'borne kiosk selftest', "
               f"then 'borne provision kiosk verify {credentials['kiosk_id']}'.")


def _write(out: Path, credentials: dict[str, Any], options: Any, label: bool, *,
           toml_only: bool = False) -> list[Path]:
    """The bundle, or only kiosk.toml (and its CA certificates) when ``options`` is None or ``toml_only``; the
    files written."""
    from provisioning.bundle import write_bundle, write_kiosk_toml

    try:
        if options is None or toml_only:
            written = write_kiosk_toml(out, credentials, options)
        else:
            written = write_bundle(out, credentials, options)
        if label:
            from provisioning.label import write_label

            written.append(write_label(out / "label.png", credentials["kiosk_id"], credentials["espace_id"],
                                       credentials["espace_name"]))
    except OSError as exc:
        raise CliError(f"cannot write the bundle in {out}: {exc} -- the kiosk is registered: run "
                       f"'borne provision kiosk rotate {credentials['kiosk_id']} --out DIR' for new credentials"
                       ) from None
    return written


@kiosk_app.command("verify")
def verify(kiosk_id: str, collector: Collector, token: Token = "", as_json: AsJson = False) -> None:
    """Whether the collector saw the kiosk online and its self-test passed (exit 1 if not)."""
    result = _call(collector, token, "verify", kiosk_id)
    if as_json:
        typer.echo(json.dumps(result, indent=1))
    else:
        typer.echo(f"kiosk {kiosk_id}: {'OK' if result['ok'] else 'NOT READY'} "
                   f"(online: {'yes' if result['online'] else 'no'}, "
                   f"self-test: {'passed' if result['selftest_passed'] else 'not passed'})")
        for problem in result["problems"]:
            typer.echo(f"  - {problem}")
    if not result["ok"]:
        raise typer.Exit(1)


@kiosk_app.command("revoke")
def revoke(kiosk_id: str, collector: Collector, token: Token = "",
           yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Remove the kiosk's broker account: it is disconnected and refused from now on."""
    if not yes and not typer.confirm(f"Revoke kiosk {kiosk_id}? It will not be able to send votes any more."):
        raise typer.Exit(1)
    _call(collector, token, "revoke", kiosk_id)
    typer.echo(f"kiosk {kiosk_id} revoked")


@kiosk_app.command("rotate")
def rotate(
    kiosk_id: str,
    collector: Collector,
    token: Token = "",
    out: Annotated[Path | None, typer.Option("--out", help="Write the new kiosk.toml (and bundle) here.")] = None,
    ui: Annotated[str, typer.Option(help="gpio or touch, for the new kiosk.toml.")] = "gpio",
    wheel: Wheel = None,
    requirement: Requirement = None,
    broker_host: BrokerHost = None,
    broker_port: BrokerPort = None,
    tls: BrokerTls = None,
    ca_file: CaFile = None,
    release_key: ReleaseKey = None,
    update_url: UpdateUrl = None,
    update_ca: UpdateCa = None,
    allow_local_collector: AllowLocalCollector = False,
) -> None:
    """A new MQTT password for the kiosk; the old one stops working at once. Writes kiosk.toml (and the CA
    certificates it names), and the whole bundle (to flash a new card) with --wheel or --requirement."""
    from provisioning.bundle import BundleOptions

    full = wheel is not None or requirement is not None
    updates = _updates(release_key, update_url, allow_local_collector)  # the new kiosk.toml keeps taking updates
    update_ca_pem = _update_ca(update_ca, updates)
    options = (_bundle_options(ui, None, None, None, None, wheel, requirement, updates=updates,
                               update_ca_pem=update_ca_pem) if full
               else BundleOptions(ui=ui, release_key=updates[0], update_url=updates[1], update_ca_pem=update_ca_pem))
    broker_ca = _broker_ca(ca_file) if ca_file is not None else None  # before the old password stops working
    credentials = _call(collector, token, "rotate", kiosk_id)
    _override_broker(credentials, broker_host, broker_port, tls, ca_file, broker_ca)
    if out is None:
        out = Path(f"borne-{kiosk_id}-rotated")
    written = _write(out, credentials, options, label=False, toml_only=not full)
    certificates = "" if full else "".join(f" and {p.name}" for p in written if p.suffix == ".crt")
    typer.echo(f"kiosk {kiosk_id}: new password in {out / 'kiosk.toml'}. Copy that kiosk.toml{certificates} onto "
               "the kiosk's boot partition and reboot it: the kiosk is refused by the broker until then.")


@kiosk_app.command("move")
def move(kiosk_id: str, collector: Collector, token: Token = "",
         espace: Annotated[str, typer.Option("--espace", help="The espace it serves from now on.")] = "") -> None:
    """Assign the kiosk to another espace from now on; its past votes stay where they were cast."""
    if not espace:
        raise CliError("--espace is needed", exit_code=2)
    result = _call(collector, token, "move", kiosk_id, espace)
    typer.echo(f"kiosk {kiosk_id} now serves {result['espace_name']} ({result['espace_id']})")
    for a in result["assignments"]:
        typer.echo(f"  {a['espace_id']:<16} from {a['started_at'][:16]} to {(a['ended_at'] or 'now')[:16]}")


@kiosk_app.command("list")
def list_(collector: Collector, token: Token = "", as_json: AsJson = False,
          espace: Annotated[str | None, typer.Option("--espace", help="Only this espace's kiosks.")] = None) -> None:
    """Every kiosk: espace, state, last seen, self-test."""
    kiosks = _call(collector, token, "kiosks", espace)
    if as_json:
        typer.echo(json.dumps(kiosks, indent=1))
        return
    typer.echo(f"{'kiosk':<24} {'espace':<14} {'status':<8} {'last seen':<17} self-test")
    for k in kiosks:
        state = "revoked" if k["revoked_at"] else k["status"]
        selftest = {True: "passed", False: "FAILED", None: "-"}[k["selftest_passed"]]
        typer.echo(f"{k['id']:<24} {k['espace_id']:<14} {state:<8} {(k['last_seen'] or '-')[:16]:<17} {selftest}")


@kiosk_app.command("label")
def label(kiosk_id: str, collector: Collector, token: Token = "",
          out: Annotated[Path | None, typer.Option("--out", help="label.png, or .pdf (default: <id>.png)")] = None,
          ) -> None:
    """A printable label: the kiosk's id, its espace's name and a QR code."""
    with requires("provisioning"):
        from provisioning.label import write_label
    kiosk = _call(collector, token, "kiosk", kiosk_id)
    path = write_label(out or Path(f"{kiosk_id}.png"), kiosk["id"], kiosk["espace_id"],
                       kiosk["espace_name"] or kiosk["espace_id"])
    typer.echo(f"label written to {path}")


broker_app = typer.Typer(no_args_is_help=True, help="The broker's accounts (Mosquitto's dynamic security).")
app.add_typer(broker_app, name="broker")


@broker_app.command("collector-account")
def collector_account(
    host: Annotated[str, typer.Option(help="Mosquitto's host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Its port.")] = 1883,
    admin_user: Annotated[str, typer.Option(envvar="BORNE_MQTT_ADMIN_USERNAME", help="Dynamic security admin.")] = "",
    admin_password: Annotated[str, typer.Option(envvar="BORNE_MQTT_ADMIN_PASSWORD", show_default=False,
                                                prompt="Dynamic security admin's password", hide_input=True,
                                                callback=warn_on_command_line,
                                                help="Its password: in BORNE_MQTT_ADMIN_PASSWORD, or asked for.")] = "",
    username: Annotated[str, typer.Option(help="The collector's MQTT user.")] = "borne-collector",
    client_id: Annotated[str | None, typer.Option(
        help="Bind the account to this client id (the collector's BORNE_MQTT_CLIENT_ID): no other session may use "
             "it. Without it the account is not bound (a tool such as 'kiosks config' needs one that is not).")] = None,
    workers: Annotated[int, typer.Option(
        min=0, max=64, help="With --client-id: an account per ingest worker too, '<user>-<n>' bound to "
                            "'<client id>-<n>' (the collector then runs with BORNE_MQTT_WORKER_ACCOUNTS=true).")] = 0,
    tls: Annotated[bool, typer.Option("--tls/--no-tls")] = False,
    ca_file: CaFile = None,
    also: Annotated[list[str] | None, typer.Option(
        "--also", help="Another broker of the service, 'host:port' (repeat it): the same accounts, with the same "
                       "password, are made there too (BORNE_MQTT_MORE_BROKERS).")] = None,
) -> None:
    """Create (or reset) the collector's own Mosquitto account: reads every kiosk topic, writes receipts and
    configurations. Prints its new password once, for BORNE_MQTT_PASSWORD. Also makes '<user>-publisher', not
    bound, which may only write and read kiosks' configuration and desired release: what the API's rollout
    buttons and 'borne collector fleet' / 'kiosks config' connect with (BORNE_MQTT_PUBLISHER_*)."""
    with requires("collector"):
        from collector.broker.accounts import AccountsError, DynsecAccounts, collector_sessions, new_secret
    if not admin_user or not admin_password:
        raise CliError("the dynamic security admin is needed: BORNE_MQTT_ADMIN_USERNAME and "
                       "BORNE_MQTT_ADMIN_PASSWORD", exit_code=2)
    if workers and not client_id:
        raise CliError("--workers binds an account per ingest worker to '<client id>-<n>': give --client-id",
                       exit_code=2)
    from protocol.checks import Invalid, broker_address

    try:
        brokers = [(host, port), *(broker_address(a, port) for a in also or [])]
    except Invalid as exc:
        raise CliError(str(exc), exit_code=2) from None
    password, publisher_password = new_secret(), new_secret()
    sessions = collector_sessions(username, client_id, workers)
    publisher = f"{username}-publisher"
    try:
        for broker_host, broker_port in brokers:
            accounts = DynsecAccounts(broker_host, broker_port, admin_user, admin_password, tls=tls, ca_file=ca_file)
            accounts.ensure_collectors(sessions, password)
            accounts.ensure_publisher(publisher, publisher_password)
    except AccountsError as exc:
        raise CliError(str(exc)) from None
    typer.echo(f"BORNE_MQTT_USERNAME={username}")
    typer.echo(f"BORNE_MQTT_PASSWORD={password}")
    typer.echo(f"BORNE_MQTT_PUBLISHER_USERNAME={publisher}")
    typer.echo(f"BORNE_MQTT_PUBLISHER_PASSWORD={publisher_password}")
    if client_id:
        typer.echo(f"BORNE_MQTT_CLIENT_ID={client_id}")
    if workers:
        typer.echo("BORNE_MQTT_WORKER_ACCOUNTS=true")
        typer.echo(f"BORNE_INGEST_WORKERS={workers}")


# -- The offline install: the wheelhouse (provisioning/wheelhouse.py) and the broker's host as kiosks see it --

WheelhouseDir = Annotated[Path | None, typer.Option(
    "--wheelhouse", help="A wheelhouse from 'borne provision wheelhouse': copied onto the card, installed offline "
                         "with --require-hashes at first boot (instead of --wheel or --requirement).")]
AllowLocalCollector = Annotated[bool, typer.Option(
    "--allow-local-collector", help="Accept a broker host that is loopback or does not resolve (tests only).")]
PinFactory = Annotated[str | None, typer.Option(
    "--pin-factory", help="gpiozero's pin driver: lgpio (Pi 5, and the default on Raspberry Pi OS), rpigpio or "
                          "pigpio (older Pis), native (default: gpiozero's choice).")]


def _checked_pin_factory(pin_factory: str | None) -> str | None:
    from provisioning.pi import PIN_FACTORIES

    if pin_factory is not None and pin_factory not in PIN_FACTORIES:
        raise CliError(f"--pin-factory is one of {', '.join(PIN_FACTORIES)}", exit_code=2)
    return pin_factory


def _checked_wheelhouse(wheelhouse: Path | None, ui: str) -> Path | None:
    if wheelhouse is None:
        return None
    from provisioning.wheelhouse import WheelhouseError, verify

    try:
        manifest = verify(wheelhouse)
    except WheelhouseError as exc:
        raise CliError(str(exc), exit_code=2) from None
    if ui == "touch" and manifest.extra != "touch":
        raise CliError(f"{wheelhouse} is for borne[{manifest.extra}]: a touch kiosk needs one made with "
                       "--extra touch", exit_code=2)
    return wheelhouse


def _check_broker_host(host: str) -> None:
    from provisioning.collector_host import CollectorHostRefused, check_broker_host

    try:
        check_broker_host(host)
    except CollectorHostRefused as exc:
        raise CliError(str(exc), exit_code=2) from None


@app.command("wheelhouse")
def wheelhouse_command(
    out: Annotated[Path, typer.Option("--out", help="The wheelhouse's folder (its wheels are replaced).")],
    extra: Annotated[str, typer.Option(help="kiosk (GPIO buttons) or touch (touchscreen).")] = "kiosk",
    source: Annotated[Path, typer.Option(help="borne's source tree, built with pip wheel.")] = Path("."),
    wheel: Annotated[Path | None, typer.Option(help="borne's wheel, already built (instead of --source).")] = None,
    host: Annotated[bool, typer.Option("--host", help="For this machine instead of the Pi (tests).")] = False,
    find_links: Annotated[list[str] | None, typer.Option(help="A folder or page of wheels, for pip.")] = None,
    index_url: Annotated[str | None, typer.Option(help="A package index instead of pip's configured one.")] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Only --find-links.")] = False,
) -> None:
    """Every wheel a kiosk installs, for Raspberry Pi OS Trixie (arm64, Python 3.13), hash-pinned: made once per
    release, put on each card by 'kiosk new --wheelhouse'."""
    from provisioning.wheelhouse import HOST, PI, WheelhouseError, build_wheelhouse

    index_args = [arg for link in find_links or [] for arg in ("--find-links", link)]
    index_args += ["--index-url", index_url] if index_url else []
    index_args += ["--no-index"] if no_index else []
    if wheel is not None and not wheel.is_file():
        raise CliError(f"{wheel}: no such wheel", exit_code=2)
    try:
        manifest = build_wheelhouse(out, extra, source=source, borne_wheel=wheel, target=HOST if host else PI,
                                    index_args=index_args)
    except WheelhouseError as exc:
        raise CliError(str(exc)) from None
    size = sum(w.size for w in manifest.wheels) / 1e6
    typer.echo(f"wheelhouse for borne[{extra}] {manifest.borne_version} ({manifest.target}): "
               f"{len(manifest.wheels)} wheels, {size:.1f} MB in {out}")
