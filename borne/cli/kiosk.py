"""``borne kiosk``: run a kiosk.

``borne kiosk run`` is the kiosk's service. Its plain form (``[-v] kiosk run -c FILE [--ui gpio|touch]``) is read
by :func:`service_args` and run without Typer's parameter handling, which imports pydantic (typer 0.2x): a kiosk
never loads pydantic, about 11 MB of a touch kiosk's 150 MB (``bench/kiosk_touch.py``). Anything else (``--help``,
a mistyped option) goes through Typer as every other command does.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import typer

from borne.cli.errors import CliError, requires

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)


@app.command("run")
def run(
    config: Path = typer.Option(..., "--config", "-c", help="The kiosk's TOML configuration."),
    ui: str = typer.Option(None, help="gpio or touch (default: the configuration's)."),
) -> None:
    """Run the kiosk until stopped (SIGTERM or Ctrl-C)."""
    run_kiosk(config, ui)


def service_args(argv: list[str]) -> tuple[bool, Path, str | None] | None:
    """``(verbose, config, ui)`` when ``argv`` is the service's plain ``[-v] kiosk run -c FILE [--ui UI]``;
    ``None`` for anything else."""
    verbose = False
    while argv and argv[0] in ("-v", "--verbose"):
        verbose, argv = True, argv[1:]
    if argv[:2] != ["kiosk", "run"]:
        return None
    options: dict[str, str] = {}
    rest = argv[2:]
    while rest:
        name, eq, value = rest[0].partition("=")
        key = {"-c": "config", "--config": "config", "--ui": "ui"}.get(name)
        if key is None or key in options or (eq and name == "-c"):
            return None
        if not eq:
            if len(rest) < 2 or rest[1].startswith("-"):
                return None
            value, rest = rest[1], rest[1:]
        options[key] = value
        rest = rest[1:]
    if "config" not in options or options.get("ui", "gpio") not in ("gpio", "touch"):
        return None
    return verbose, Path(options["config"]), options.get("ui")


def run_kiosk(config: Path, ui: str | None = None) -> None:
    """The service: load the configuration, run the GPIO or the touch kiosk until SIGTERM or Ctrl-C."""
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
        from kiosk.service import GpioKiosk
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
