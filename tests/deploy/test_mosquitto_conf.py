"""deploy/mosquitto/borne.conf starts a real Mosquitto (TLS lines left out, ports and paths moved to the test's),
with the dynamic security plugin, and refuses anonymous clients."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.broker.mosquitto import free_port, wait_port
from devtools.brokers import MOSQUITTO

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


@pytest.mark.skipif(not PLUGIN.exists() or not shutil.which("mosquitto_ctrl"), reason="no dynamic security plugin")
def test_production_config_starts_and_refuses_anonymous(tmp_path: Path) -> None:
    kiosks, collectors = free_port(), free_port()
    text = (ROOT / "deploy" / "mosquitto" / "borne.conf").read_text()
    text = re.sub(r"^(cafile|certfile|keyfile|tls_version) .*$", "", text, flags=re.M)
    text = text.replace("listener 8883", f"listener {kiosks} 127.0.0.1")
    text = text.replace("listener 1883 127.0.0.1", f"listener {collectors} 127.0.0.1")
    text = text.replace("/var/lib/mosquitto/", f"{tmp_path}/").replace("log_dest syslog", "log_dest stdout")
    text += "\nuser root\n"
    conf = tmp_path / "borne.conf"
    conf.write_text(text)
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", str(tmp_path / "dynamic-security.json"), "borne-admin"],
                   input="a-test-password\na-test-password\n", text=True, check=True, capture_output=True)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_port("127.0.0.1", kiosks, 10) and wait_port("127.0.0.1", collectors, 10)
        _assert_refused(kiosks)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
    assert "Error" not in out, out


def _assert_refused(port: int) -> None:
    """An anonymous client gets a refusing CONNACK (not authorised)."""
    codes: list[object] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anonymous")
    client.on_connect = lambda c, u, f, reason, p: codes.append(reason)
    client.connect("127.0.0.1", port)
    for _ in range(50):
        client.loop(0.1)
        if codes:
            break
    client.disconnect()
    assert codes and getattr(codes[0], "is_failure", False), codes
