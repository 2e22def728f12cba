"""``borne kiosk``: run a kiosk, test one on site.

``borne kiosk run``'s plain form (``[-v] kiosk run -c FILE [--ui gpio|touch]``), the kiosk's service, never reaches
this module: ``borne``'s console script hands it to :mod:`kiosk.entry` before Typer is imported. The command below
is what Typer shows in ``--help`` and what it runs for any other form of the command line.
"""

from __future__ import annotations

import logging
from pathlib import Path

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
    from kiosk.entry import ServiceError, run_kiosk

    try:
        code = run_kiosk(config, ui)
    except ServiceError as exc:
        raise CliError(str(exc), exit_code=exc.exit_code) from None
    if code:
        raise typer.Exit(code)  # an update switched releases: the supervisor starts the kiosk again


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
