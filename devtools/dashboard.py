"""The collector's API and dashboard served on a free local port, and Debian's headless Chromium as the tests
and benchmarks drive it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from sqlalchemy import Engine

from collector.api.app import create_app
from collector.broker.mosquitto import free_port


@contextmanager
def serve(engine: Engine, extra: dict[str, Any] | None = None) -> Iterator[str]:
    """The collector's API (and dashboard) on a free local port, in a thread; yields its base URL."""
    port = free_port()
    app = create_app(engine)
    app.state.borne.extra.update(extra or {})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="dashboard-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Chromium's environment: staff's browsers run on French time. The dashboard's periods end on the browser's
#: today while votes are counted on their espace's local day, so a browser on UTC (a CI machine) left out the
#: votes a test had just made between 23:00 and midnight UTC, already the next day in Paris (seen at 23:47 UTC).
CHROMIUM_ENV: dict[str, str | float | bool] = {**os.environ, "TZ": "Europe/Paris"}
