"""`borne demo` starts everything, serves the API and the dashboard with votes in them, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from collector.broker.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "borne", "demo", "--kiosks", "4", "--pace", "0.3", "--data-dir", str(tmp_path),
         "--api-port", str(free_port()), "--mqtt-port", str(free_port())],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    url = token = dashboard = issuer = None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            provider = re.search(r"sign in: .*\((http://127\.0\.0\.1:\d+)\)", line)
            if provider:
                issuer = provider.group(1)
            found = re.search(r"(satisfaction|token|dashboard): +(\S+)", line)
            if found:
                if found.group(1) == "token":
                    token = found.group(2)
                elif found.group(1) == "dashboard":
                    dashboard = found.group(2)
                else:
                    url = found.group(2)
                    break
        assert url and token and dashboard, "".join(lines)
        with urllib.request.urlopen(dashboard, timeout=10) as response:  # noqa: S310 - our own local API
            assert b'lang="fr"' in response.read()
        # Staff sign in as they will: the demo's OpenID Connect provider runs, and the sign-in page offers it.
        assert issuer, "".join(lines)
        with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=10) as response:  # noqa: S310
            assert json.loads(response.read())["issuer"] == issuer
        with urllib.request.urlopen(dashboard + "connexion", timeout=10) as response:  # noqa: S310
            assert b'id="oidc-signin"' in response.read()
        # The printed token signs in: the national partner reads the espace's votes, weeks of them already.
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
        deadline = time.monotonic() + 60
        votes = 0
        while time.monotonic() < deadline and votes == 0:
            time.sleep(1)
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own local API
                body = response.read()
            votes = json.loads(body)["total"]["votes"]
        assert votes > 0
        # `make demo` raises its alert (the collector's own alert loop keeps it; the demo starts none of its own).
        alerts = urllib.request.Request(url.split("/api/")[0] + "/api/v1/alerts?open=true",  # noqa: S310
                                        headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(alerts, timeout=10) as response:  # noqa: S310 - our own local API
            assert "unhappy" in [alert["rule"] for alert in json.loads(response.read())]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode in (0, 130), out
        assert "stopped;" in out and "votes stored" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
