"""``borne``: the root command and its sub-apps, one per package.

Each sub-app imports its package's heavy dependencies inside its commands, so that ``borne --help`` works on
any machine and a command whose extra is missing says which extra to install.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from borne import __version__
from borne.cli.errors import CliError

_LOG = logging.getLogger(__name__)

app = typer.Typer(
    name="borne",
    help="Satisfaction kiosks for France services: kiosk, collector, provisioning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"borne {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    from kiosk.entry import setup_logging  # the kiosk's service sets it up the same way, without Typer

    setup_logging(verbose)


def _register() -> None:
    from borne.cli.collector import app as collector_app
    from borne.cli.demo import demo
    from borne.cli.kiosk import app as kiosk_app
    from borne.cli.protocol import app as protocol_app
    from borne.cli.provision import app as provision_app
    from borne.cli.release import app as release_app
    from borne.cli.sim import sim

    app.add_typer(kiosk_app, name="kiosk", help="Run a kiosk, or test one on site.")
    app.add_typer(collector_app, name="collector", help="Run the collector and manage its data.")
    app.add_typer(provision_app, name="provision", help="Register and prepare kiosks (technicians).")
    app.add_typer(protocol_app, name="protocol", help="The MQTT protocol: schemas and examples.")
    app.add_typer(release_app, name="release", help="Sign releases with the programme's key (off the collector).")
    app.command("demo", help="Run a broker, a collector and simulated kiosks on this machine.")(demo)
    app.command("sim", help="A fleet of simulated kiosks (thousands of connections) against a broker.")(sim)


_register()


def main() -> None:
    """Typer's ``borne``. The console script (:mod:`borne.entry`) runs the kiosk's service before coming here."""
    try:
        app()
    except CliError as exc:
        if os.environ.get("DEBUG") == "1":
            raise
        typer.echo(f"borne: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("DEBUG") == "1":
            raise
        typer.echo(f"borne: error: {type(exc).__name__}: {exc} (DEBUG=1 for a traceback)", err=True)
        sys.exit(1)
