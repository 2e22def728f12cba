"""The SD card's bundle: what the technician copies onto a Raspberry Pi OS card's boot partition.

Raspberry Pi OS (since Trixie) runs cloud-init from the boot partition's NoCloud files: ``user-data``,
``meta-data`` and ``network-config``. Ours, at first boot:

1. makes a ``borne`` user (no password, no login) and, with ``--ssh-key``, an ``admin`` user for SSH;
2. installs the kiosk into ``/opt/borne`` (a venv over the system's gpiozero and lgpio) and its units;
3. makes a data partition (``LABEL=borne-data``, ext4) in the space after the root partition and mounts it on
   ``/var/lib/borne``: the outbox and the kiosk's configuration live there, and stay writable;
4. turns screen blanking off (console and desktop);
5. turns the read-only root on (raspi-config's overlayfs) and reboots.

Files that hold a secret (``kiosk.toml``: the MQTT password; ``network-config``: the Wi-Fi password) are created
with mode 0600 from their first byte (:func:`write_private`, whatever the umask), in a folder made 0700.

What the first boot installs is pinned: a borne wheel copied onto the card (``wheel``), or a requirements file
whose every requirement is hash-pinned (``requirement``, installed with ``--require-hashes``). An unpinned
package from a public index, installed as root, is refused (:class:`BundleError`).

``kiosk.toml`` holds the kiosk's MQTT password: at every boot, before the kiosk starts,
``borne-config-import.service`` moves a ``kiosk.toml`` found on the boot partition into the data partition
(mode 0600) and deletes it from the boot partition. A new password (``rotate``) goes the same way: copy the new
``kiosk.toml`` onto the boot partition, reboot.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_LOG = logging.getLogger(__name__)

BOOT = "/boot/firmware"
DATA_DIR = "/var/lib/borne"
CONFIG_PATH = f"{DATA_DIR}/kiosk.toml"
CA_PATH = f"{DATA_DIR}/ca.crt"  # on the data partition: a new CA needs no writable root
UPDATE_CA_PATH = f"{DATA_DIR}/update-ca.crt"  # the update server's CA (--update-ca), beside the broker's
# On the boot partition (not secrets: they stay there), copied onto the data partition at every boot.
CA_FILE, UPDATE_CA_FILE = "borne-ca.crt", "borne-update-ca.crt"
VENV = "/opt/borne"
DATA_LABEL = "borne-data"


class BundleError(ValueError):
    """The bundle cannot be written as asked (what the first boot would install is not pinned, say)."""


@dataclass
class BundleOptions:
    """What the technician chooses; defaults suit a GPIO kiosk on Ethernet. ``wheel`` or ``requirement`` is
    needed: see :func:`check_install`."""

    ui: str = "gpio"
    hostname: str | None = None
    wheel: Path | None = None
    requirement: Path | None = None
    ssh_keys: list[str] = field(default_factory=list)
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    wifi_country: str = "FR"
    timezone: str = "Europe/Paris"
    watchdog_s: int = 30
    data_size: str = "+"  # sfdisk size of the data partition: the rest of the card
    # An offline, hash-pinned install from the card (provisioning/wheelhouse.py); instead of wheel/requirement.
    wheelhouse: Path | None = None
    pin_factory: str | None = None  # GPIOZERO_PIN_FACTORY for the kiosk (provisioning/pi.py); gpiozero's choice
    # Software updates (kiosk/update.py): the programme's release key (base64) and the collector's API as kiosks
    # reach it. Without both, the kiosk takes no update.
    release_key: str | None = None
    update_url: str | None = None
    # The CA (PEM) that signed the update server's certificate, when a private one did: the kiosk then trusts it
    # alone for updates (``[update] ca_file``). Without it, the system's CAs and the broker's (kiosk/update.py).
    update_ca_pem: str | None = None


WHEELS = f"{BOOT}/borne-wheels"
REQUIREMENTS = f"{BOOT}/borne-requirements.txt"
_ALLOWED_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--no-index", "--require-hashes",
                    "--only-binary", "--prefer-binary", "-i", "-f")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._ -]+\])?\s*===?\s*[^\s;]+")


def extra(options: BundleOptions) -> str:
    """borne's extra for the kiosk's UI: ``touch`` for the touchscreen, ``kiosk`` for buttons."""
    return "touch" if options.ui == "touch" else "kiosk"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """A requirements file's lines, continuations joined and comments dropped, with their first line number."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            out.append((start, whole))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def check_requirement(path: Path, options: BundleOptions) -> None:
    """Refuse (:class:`BundleError`) a requirements file with a requirement not pinned by hash (``==`` and
    ``--hash=sha256:``), an include (``-r``, ``-c``, ``-e``), or without borne and the UI's extra."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: cannot read it ({exc})") from None
    borne = False
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            if not line.startswith(_ALLOWED_OPTIONS):
                raise BundleError(f"{path}, line {number}: {line.split()[0]} is not allowed (every requirement "
                                  "must be in this file, pinned by hash)")
            continue
        if not _PINNED.match(line) or "--hash=sha256:" not in line:
            raise BundleError(f"{path}, line {number}: not pinned by hash ({line.split()[0]}): every requirement "
                              "needs '==VERSION --hash=sha256:...' (pip-compile --generate-hashes)")
        name = re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0].lower().replace("_", "-")
        if name == "borne":
            extras = re.search(r"\[([^\]]*)\]", line.split("=")[0])
            wanted = extra(options)
            if extras is None or wanted not in {e.strip() for e in extras.group(1).split(",")}:
                raise BundleError(f"{path}, line {number}: borne needs its [{wanted}] extra for --ui {options.ui}")
            borne = True
    if not borne:
        raise BundleError(f"{path}: borne[{extra(options)}] is not among the requirements")


def check_install(options: BundleOptions) -> None:
    """What the first boot installs must be pinned: the offline wheelhouse (checked by
    :func:`provisioning.wheelhouse.verify`), a wheel, or a hash-pinned requirements file."""
    if options.wheelhouse is not None:
        if options.wheel is not None or options.requirement is not None:
            raise BundleError("--wheelhouse holds borne and every dependency: give it alone, without --wheel or "
                              "--requirement")
        return
    if options.wheel is None and options.requirement is None:
        raise BundleError("the first boot would install borne unpinned from a public index, as root: give "
                          "--wheelhouse DIR (borne provision wheelhouse: offline, every file pinned by hash), "
                          "--wheel dist/borne-VERSION-py3-none-any.whl (copied onto the card), or --requirement "
                          "FILE with every requirement pinned by hash")
    if options.wheel is not None and not (options.wheel.is_file() and options.wheel.name.endswith(".whl")):
        raise BundleError(f"{options.wheel}: no such wheel (.whl)")
    if options.requirement is not None:
        check_requirement(options.requirement, options)


def install_commands(options: BundleOptions) -> list[str]:
    """The first boot's pip commands (run as root in the venv), from the card only or pinned by hash."""
    pip = f"{VENV}/bin/pip install --no-input"
    commands = []
    if options.requirement is not None:
        commands.append(f"{pip} --require-hashes -r {REQUIREMENTS}")
    if options.wheel is not None:
        spec = f"{WHEELS}/{options.wheel.name}[{extra(options)}]"
        # With a hash-pinned requirements file, the dependencies came from it: the wheel brings none of its own.
        nodeps = " --no-deps" if options.requirement is not None else ""
        commands.append(f"{pip}{nodeps} {shlex.quote(spec)}")
    return commands


def private_dir(path: Path) -> None:
    """Make ``path`` (mode 0700) if it does not exist; warn if an existing one is open to others."""
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            _LOG.warning("%s is open to other users; the files holding secrets in it are not (0600)", path)
        return
    os.chmod(path, 0o700)  # mkdir's mode goes through the umask too


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` into ``path`` with mode 0600 from the first byte, whatever the umask: a new file created
    exclusively at 0600, then renamed over ``path`` (so an old file is never rewritten in place)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask can only narrow 0600; this makes it exact
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def kiosk_toml(credentials: dict[str, Any], options: BundleOptions, *, broker: dict[str, Any] | None = None) -> str:
    """The kiosk's configuration (see :mod:`kiosk.config`), with its broker account."""
    broker = broker or credentials.get("broker") or {}
    lines = [
        f"# borne kiosk {credentials['kiosk_id']} at {credentials['espace_name']} ({credentials['espace_id']})",
        "# Holds this kiosk's MQTT password: keep it off shared drives; 'rotate' makes a new one.",
        f"kiosk_id = {_toml_value(credentials['kiosk_id'])}",
        f"data_dir = {_toml_value(DATA_DIR)}",
        f"ui = {_toml_value(options.ui)}",
        "",
        "[broker]",
        f"host = {_toml_value(broker.get('host', '127.0.0.1'))}",
        f"port = {_toml_value(int(broker.get('port', 1883)))}",
        f"username = {_toml_value(credentials['mqtt_username'])}",
        f"password = {_toml_value(credentials['mqtt_password'])}",
        f"tls = {_toml_value(bool(broker.get('tls')))}",
    ]
    if broker.get("others"):  # active-active brokers: the kiosk fails over to these, with the same account
        lines.append(f"others = {_toml_value([str(a) for a in broker['others']])}")
    if broker.get("tls") and broker.get("ca_pem"):
        lines.append(f"ca_file = {_toml_value(CA_PATH)}")
    # A Pi has no real-time clock: hold a fresh boot's votes for NTP, so that they leave with the right time.
    lines += ["", "[uplink]", "clock_grace_s = 120"]
    if options.release_key and options.update_url:
        lines += ["", "[update]", f"url = {_toml_value(options.update_url)}",
                  f"public_key = {_toml_value(options.release_key)}"]
        if options.update_ca_pem:
            lines.append(f"ca_file = {_toml_value(UPDATE_CA_PATH)}")
    if options.ui == "gpio":
        lines += ["", "[panel]", "buttons = [5, 6, 13, 19]", "thanks_led = 26"]
    else:
        # Under the system unit there is no desktop session: the kernel's touch device, read through mtdev
        # (docs/kiosk.md); SDL2 must then have its kmsdrm video driver.
        lines += ["", "[touch]", 'input = "mtdev"']
    return "\n".join(lines) + "\n"


def kiosk_unit(options: BundleOptions) -> str:
    """The kiosk's systemd service: restarted always, watched by systemd's watchdog (sd_notify). It runs the update
    supervisor (:mod:`kiosk.supervisor`), which runs the kiosk as its child on the current release: the child
    notifies systemd (``NotifyAccess=all``), SIGTERM goes to the supervisor only, which passes it on."""
    return f"""[Unit]
Description=borne satisfaction kiosk
Documentation=https://github.com/borne/borne/blob/main/docs/provisioning.md
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target borne-config-import.service
Requires=borne-config-import.service
RequiresMountsFor={DATA_DIR}
StartLimitIntervalSec=0

[Service]
Type=notify
NotifyAccess=all
KillMode=mixed
User=borne
Group=borne
SupplementaryGroups=gpio video input render
ExecStart={VENV}/bin/python -m kiosk.supervisor run --config {CONFIG_PATH}
Restart=always
RestartSec=5
WatchdogSec={options.watchdog_s}
TimeoutStopSec=20
Environment=PYTHONUNBUFFERED=1
NoNewPrivileges=true
ProtectSystem=strict
ReadWritePaths={DATA_DIR}
PrivateTmp=true

[Install]
WantedBy=multi-user.target
"""


IMPORT_SCRIPT = f"""#!/bin/sh
# Move a kiosk.toml dropped on the boot partition into the data partition (it holds the MQTT password).
set -eu
src={BOOT}/kiosk.toml
if [ -f "$src" ]; then
  install -D -m 0600 -o borne -g borne "$src" {CONFIG_PATH}.new
  mv {CONFIG_PATH}.new {CONFIG_PATH}
  rm -f "$src"
  logger -t borne "kiosk configuration imported from the boot partition"
fi
# The broker's CA certificate, and the update server's (not secrets: they stay on the boot partition too).
if [ -f {BOOT}/{CA_FILE} ]; then install -m 0644 -o borne -g borne {BOOT}/{CA_FILE} {CA_PATH}; fi
if [ -f {BOOT}/{UPDATE_CA_FILE} ]; then
  install -m 0644 -o borne -g borne {BOOT}/{UPDATE_CA_FILE} {UPDATE_CA_PATH}
fi
"""


def import_unit() -> str:
    return f"""[Unit]
Description=borne: import a kiosk.toml from the boot partition
RequiresMountsFor={DATA_DIR} {BOOT}
ConditionPathExists=|{BOOT}/kiosk.toml
ConditionPathExists=|{BOOT}/{CA_FILE}
ConditionPathExists=|{BOOT}/{UPDATE_CA_FILE}

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/borne-config-import
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
"""


FIRSTBOOT_SCRIPT = f"""#!/bin/sh
# borne first boot: data partition, screen blanking off, read-only root. Run once by cloud-init.
set -eu
log() {{ logger -t borne-firstboot "$*"; echo "borne-firstboot: $*"; }}

# 1. The data partition, after the root partition (the root is not grown: see growpart in user-data).
if ! blkid -L {DATA_LABEL} >/dev/null 2>&1; then
  root=$(findmnt -no SOURCE /)
  disk=/dev/$(lsblk -no PKNAME "$root")
  log "creating the data partition on $disk"
  # Right after the root partition: sfdisk would otherwise take the first free gap, and Raspberry Pi OS's images
  # leave 3 MiB free before the boot partition (seen on the emulated Pi, tests/pi/).
  sys=/sys/class/block/$(basename "$(readlink -f "$root")")
  start=$(( $(cat "$sys/start") + $(cat "$sys/size") ))
  # --force: the disk is in use (its root is mounted); only a partition is appended, nothing moves.
  echo "$start,{{size}},L" | sfdisk --force --append --no-reread "$disk"
  partx -a "$disk" 2>/dev/null || partprobe "$disk" || true
  udevadm settle
  part=$(lsblk -lnpo NAME "$disk" | tail -n 1)
  mkfs.ext4 -F -L {DATA_LABEL} "$part"
fi
grep -q 'LABEL={DATA_LABEL}' /etc/fstab || \\
  echo 'LABEL={DATA_LABEL} {DATA_DIR} ext4 defaults,noatime,commit=5,nofail 0 2' >> /etc/fstab
mkdir -p {DATA_DIR}
mountpoint -q {DATA_DIR} || mount {DATA_DIR}
chown borne:borne {DATA_DIR}
chmod 0750 {DATA_DIR}
/usr/local/sbin/borne-config-import

# 2. Screen blanking off: console (kernel) and desktop (raspi-config).
grep -q consoleblank=0 {BOOT}/cmdline.txt || sed -i '1 s/$/ consoleblank=0/' {BOOT}/cmdline.txt
raspi-config nonint do_blanking 1 || log "raspi-config could not turn blanking off"

# 3. The kiosk.
systemctl daemon-reload
systemctl enable borne-config-import.service borne-kiosk.service

# 4. Read-only root (overlayfs); the data partition stays writable. Takes effect at the reboot.
raspi-config nonint do_overlayfs 0 || log "raspi-config could not enable the overlay root"
log "done; rebooting"
"""


def user_data(credentials: dict[str, Any], options: BundleOptions) -> str:
    """The cloud-init ``user-data`` (``#cloud-config``), validated by ``cloud-init schema`` in the tests."""
    kiosk_id = credentials["kiosk_id"]
    check_install(options)
    users: list[Any] = [
        {"name": "borne", "system": True, "shell": "/usr/sbin/nologin", "lock_passwd": True,
         "groups": ["gpio", "video", "input", "render"], "homedir": DATA_DIR, "no_create_home": True},
    ]
    if options.ssh_keys:
        users.insert(0, "default")
        users.append({"name": "admin", "groups": ["sudo", "adm"], "shell": "/bin/bash", "lock_passwd": True,
                      "sudo": "ALL=(ALL) NOPASSWD:ALL", "ssh_authorized_keys": options.ssh_keys})
    config: dict[str, Any] = {
        "hostname": options.hostname or f"borne-{kiosk_id}"[:63],
        "manage_etc_hosts": True,
        "timezone": options.timezone,
        "ssh_pwauth": False,
        "users": users,
        # No growing of the root partition: the space after it becomes the data partition.
        "growpart": {"mode": "off"},
        "resize_rootfs": False,
        "package_update": True,
        "packages": ["python3-venv", "python3-gpiozero", "python3-lgpio", "parted", "systemd-timesyncd"],
        "write_files": [
            {"path": "/etc/systemd/system/borne-kiosk.service", "permissions": "0644",
             "content": kiosk_unit(options)},
            {"path": "/etc/systemd/system/borne-config-import.service", "permissions": "0644",
             "content": import_unit()},
            {"path": "/usr/local/sbin/borne-config-import", "permissions": "0755", "content": IMPORT_SCRIPT},
            {"path": "/usr/local/sbin/borne-firstboot", "permissions": "0755",
             "content": FIRSTBOOT_SCRIPT.replace("{size}", options.data_size)},
        ],
        "runcmd": [
            ["python3", "-m", "venv", "--system-site-packages", VENV],
            *(["sh", "-c", command] for command in install_commands(options)),
            ["/usr/local/sbin/borne-firstboot"],
        ],
        "power_state": {"mode": "reboot", "message": "borne: first boot done, rebooting read-only",
                        "delay": "now", "condition": True},
    }
    # What a Pi needs that a PC does not: volatile journal, pin factory, kmsdrm (provisioning/pi.py).
    from provisioning.pi import pi_files

    config["write_files"] += pi_files(options.ui, options.pin_factory)
    if options.wheelhouse is not None:
        from provisioning.wheelhouse import offline_install

        offline_install(config, options.wheelhouse, ui=options.ui, boot=BOOT, venv=VENV)
    header = f"#cloud-config\n# borne kiosk {kiosk_id} for {credentials['espace_name']} ({credentials['espace_id']})\n"
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000)


def network_config(options: BundleOptions) -> str | None:
    """Netplan-style network-config v2: Ethernet by DHCP, and the Wi-Fi network when one is given."""
    if not options.wifi_ssid:
        return None
    config: dict[str, Any] = {
        "network": {
            "version": 2,
            "ethernets": {"eth0": {"dhcp4": True, "optional": True}},
            "wifis": {"wlan0": {"dhcp4": True, "optional": True, "regulatory-domain": options.wifi_country,
                                "access-points": {options.wifi_ssid: {"password": options.wifi_password or ""}}}},
        }
    }
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def meta_data(kiosk_id: str, generation: str) -> str:
    # A new instance-id makes cloud-init run again on a card re-flashed for another kiosk.
    return f"instance-id: borne-{kiosk_id}-{generation}\nlocal-hostname: borne-{kiosk_id}\n"


SECRET_FILES = ("kiosk.toml", "network-config")


def ca_files(credentials: dict[str, Any], options: BundleOptions) -> dict[str, str]:
    """The CA certificates ``kiosk.toml`` points at, by their name on the boot partition: the broker's (with TLS)
    and the update server's (``--update-ca``, with updates)."""
    files = {}
    broker = credentials.get("broker") or {}
    if broker.get("tls") and broker.get("ca_pem"):
        files[CA_FILE] = str(broker["ca_pem"])
    if options.update_ca_pem and options.release_key and options.update_url:
        files[UPDATE_CA_FILE] = options.update_ca_pem
    return files


def write_kiosk_toml(out: Path, credentials: dict[str, Any], options: BundleOptions | None = None) -> list[Path]:
    """``kiosk.toml`` (private) and the CA certificates it points at, nothing else: a new password for a kiosk
    already installed (see ``rotate``). The certificates go too, so that a ``kiosk.toml`` naming a new CA never
    reaches a card without it."""
    options = options or BundleOptions()
    private_dir(out)
    path = out / "kiosk.toml"
    write_private(path, kiosk_toml(credentials, options).encode())
    written = [path]
    for name, text in ca_files(credentials, options).items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written


def write_bundle(out: Path, credentials: dict[str, Any], options: BundleOptions | None = None, *,
                 generation: str = "1") -> list[Path]:
    """Write the bundle into ``out`` (the boot partition, or a folder to copy onto it); returns the files."""
    options = options or BundleOptions()
    check_install(options)
    private_dir(out)
    files: dict[str, str] = {
        "kiosk.toml": kiosk_toml(credentials, options),
        "user-data": user_data(credentials, options),
        "meta-data": meta_data(credentials["kiosk_id"], generation),
        "borne-kiosk.service": kiosk_unit(options),
        "borne-config-import.service": import_unit(),
    }
    files.update(ca_files(credentials, options))
    network = network_config(options)
    if network:
        files["network-config"] = network
    written = []
    for name, text in files.items():
        path = out / name
        if name in SECRET_FILES:
            write_private(path, text.encode())
        else:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    if options.requirement:
        target = out / Path(REQUIREMENTS).name
        target.write_bytes(options.requirement.read_bytes())
        written.append(target)
    if options.wheel:
        wheels = out / Path(WHEELS).name
        wheels.mkdir(exist_ok=True)
        target = wheels / options.wheel.name
        target.write_bytes(options.wheel.read_bytes())
        written.append(target)
    if options.wheelhouse is not None:
        from provisioning.wheelhouse import CARD_DIR, copy_to_card

        written += copy_to_card(options.wheelhouse, out / CARD_DIR)
    _LOG.info("bundle for kiosk %s written to %s (%d files)", credentials["kiosk_id"], out, len(written))
    return written
