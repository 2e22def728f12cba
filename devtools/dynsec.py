"""A Mosquitto with the dynamic security plugin and no anonymous access, for the provisioning tests."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from collector.broker.mosquitto import LIMITS, BrokerMissing, find_dynsec_plugin
from devtools.brokers import Mosquitto

_LOG = logging.getLogger(__name__)

try:
    DYNSEC_PLUGIN = find_dynsec_plugin()
except BrokerMissing:
    DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
MOSQUITTO_CTRL = shutil.which("mosquitto_ctrl") or "/usr/bin/mosquitto_ctrl"


def dynsec_available() -> bool:
    return DYNSEC_PLUGIN.exists() and Path(MOSQUITTO_CTRL).exists()


class DynsecMosquitto(Mosquitto):
    """Mosquitto whose only account at first is the dynamic security admin (``admin_user``/``admin_password``),
    with the limits of deploy/mosquitto/borne.conf (:data:`collector.broker.LIMITS`), as a national broker."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.admin_user = "borne-admin"
        self.admin_password = secrets.token_urlsafe(24)
        self.dynsec_file = workdir / "dynamic-security.json"
        subprocess.run(
            [MOSQUITTO_CTRL, "dynsec", "init", str(self.dynsec_file), self.admin_user, self.admin_password],
            check=True, capture_output=True,
        )
        self.conf.write_text("\n".join([
            "per_listener_settings false",
            # Started as root, Mosquitto drops to its own user, which cannot read pytest's private folders.
            *(["user root"] if os.geteuid() == 0 else []),
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"plugin {DYNSEC_PLUGIN}",
            f"plugin_opt_config_file {self.dynsec_file}",
            *(f"{key} {value}" for key, value in LIMITS.items()),
            "log_dest stdout",
            "log_type all",
            "connection_messages true",
            "persistence false",
        ]) + "\n")
