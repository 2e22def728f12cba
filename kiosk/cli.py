"""``borne kiosk``: run a kiosk."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import typer

from borne.errors import CliError, requires

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(
    config: Path = typer.Option(..., "--config", "-c", help="The kiosk's TOML configuration."),
    ui: str = typer.Option(None, help="gpio or touch (default: the configuration's)."),
) -> None:
    """Run the kiosk until stopped (SIGTERM or Ctrl-C)."""
    from kiosk.config import ConfigInvalid, load_config, redacted

    try:
        overrides: dict[str, Any] = {"ui": ui} if ui else {}
        cfg = load_config(config, **overrides)
    except ConfigInvalid as exc:
        raise CliError(str(exc), exit_code=2) from None
    _LOG.info("configuration: %s", json.dumps(redacted(cfg), default=str))
    if cfg.ui == "touch":
        with requires("touch"):
            from kiosk.touch.app import run_touch
        run_touch(cfg)
        return
    with requires("kiosk"):
        from kiosk.device import GpioKiosk
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with GpioKiosk(cfg):
        _LOG.info("kiosk %s running (GPIO, %d buttons)", cfg.kiosk_id, cfg.voting.scale)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    _LOG.info("kiosk %s stopped", cfg.kiosk_id)


@app.command("selftest")
def selftest(
    config: Path = typer.Option(..., "--config", "-c", help="The kiosk's TOML configuration."),
    press_timeout: float = typer.Option(30.0, help="Seconds to wait for each button press."),
    technician: str = typer.Option(None, help="Your name, kept with the report."),
) -> None:
    """Check the buttons, LEDs, screen, clock, disk and broker, and report to the collector (stop the kiosk's
    service first: it holds the GPIO pins)."""
    from kiosk.config import ConfigInvalid, load_config

    try:
        cfg = load_config(config)
    except ConfigInvalid as exc:
        raise CliError(str(exc), exit_code=2) from None
    with requires("kiosk"):
        from kiosk.selftest import SelfTest, SelfTestOptions

    class _Console:
        def tell(self, text: str) -> None:
            typer.echo(text)

        def confirm(self, question: str) -> bool:
            return bool(typer.confirm(question, default=False))

    report = SelfTest(cfg, _Console(), options=SelfTestOptions(press_timeout_s=press_timeout,
                                                               technician_name=technician)).run()
    for check in report.checks:
        typer.echo(f"{check.outcome.value.upper():8} {check.name:8} {check.detail}")
    typer.echo("self-test PASSED" if report.passed else "self-test FAILED: see docs/provisioning.md")
    if not report.passed:
        raise typer.Exit(1)
