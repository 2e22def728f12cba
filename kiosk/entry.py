"""The kiosk's service entry point: ``borne [-v] kiosk run -c FILE [--ui gpio|touch]``, as systemd runs it.

The command line is read here by hand and the kiosk run from here, so that the service imports neither Typer nor
pydantic (Typer's parameter handling imports pydantic, typer 0.2x): about 11 MB of a touch kiosk's 150 MB
(``bench/kiosk_touch.py``), and the time to import them at every boot and restart. ``borne``'s console script
(:mod:`borne.entry`) tries :func:`serve` before it imports the Typer app; ``python -m kiosk [-v] run -c FILE``
runs the same without the ``borne`` command. Anything else than the plain form (``--help``, a mistyped option)
is left to Typer, which says what is wrong as every other command does.

Errors print as ``borne: error: …`` with the exit codes of the command line (2: the configuration, 3: an extra
missing); a traceback only with ``DEBUG=1``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_LOG = logging.getLogger(__name__)

#: The command's words in ``borne``'s command line.
BORNE_COMMAND = ("kiosk", "run")
#: The exit code that asks :mod:`kiosk.supervisor` to start the kiosk again, on the release an update switched to.
RESTART = 75
#: Loggers too chatty at INFO (httpx logs every request: a technician's command would print one line per call).
_NOISY = ("transitions", "alembic", "httpx", "httpcore")


class ServiceError(Exception):
    """The kiosk cannot start: a one-line reason, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def service_args(argv: Sequence[str], command: Sequence[str] = BORNE_COMMAND) -> tuple[bool, Path, str | None] | None:
    """``(verbose, config, ui)`` when ``argv`` is the service's plain ``[-v] <command> -c FILE [--ui UI]``;
    ``None`` for anything else."""
    args = list(argv)
    verbose = False
    while args and args[0] in ("-v", "--verbose"):
        verbose, args = True, args[1:]
    if args[: len(command)] != list(command):
        return None
    options: dict[str, str] = {}
    rest = args[len(command):]
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


def _missing(extra: str, exc: ModuleNotFoundError) -> ServiceError:
    return ServiceError(f"this command needs the '{extra}' extra ({exc.name} is missing): pip install 'borne[{extra}]'",
                        exit_code=3)


def run_kiosk(config: Path, ui: str | None = None) -> int:
    """The service: load the configuration, run the GPIO or the touch kiosk until SIGTERM or Ctrl-C; 0, or
    :data:`kiosk.supervisor.RESTART` when an update switched releases."""
    from kiosk.config import ConfigInvalid, load_config, redacted

    try:
        overrides: dict[str, Any] = {"ui": ui} if ui else {}
        cfg = load_config(config, **overrides)
    except ConfigInvalid as exc:
        raise ServiceError(str(exc), exit_code=2) from None
    _LOG.info("configuration: %s", json.dumps(redacted(cfg), default=str))
    if cfg.ui == "touch":
        try:
            from kiosk.touch.app import run_touch
        except ModuleNotFoundError as exc:
            raise _missing("touch", exc) from exc
        return run_touch(cfg)
    try:
        from kiosk.service import GpioKiosk
    except ModuleNotFoundError as exc:
        raise _missing("kiosk", exc) from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with GpioKiosk(cfg) as kiosk:
        kiosk.restart_listeners.append(stop.set)
        _LOG.info("kiosk %s running (GPIO, %d buttons)", cfg.kiosk_id, cfg.voting.scale)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        restart = kiosk.restart_requested.is_set()
    _LOG.info("kiosk %s stopped%s", cfg.kiosk_id, " to start its new release" if restart else "")
    return RESTART if restart else 0


def setup_logging(verbose: bool) -> None:
    """``borne``'s logging: DEBUG with ``-v`` or ``DEBUG=1``, INFO otherwise."""
    level = logging.DEBUG if verbose or os.environ.get("DEBUG") == "1" else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve(argv: Sequence[str], command: Sequence[str] = BORNE_COMMAND) -> int | None:
    """Run the kiosk if ``argv`` is the service's plain command line, and return its exit code; ``None`` (nothing
    run) for any other command line."""
    parsed = service_args(argv, command)
    if parsed is None:
        return None
    verbose, config, ui = parsed
    setup_logging(verbose)
    try:
        code = run_kiosk(config, ui)
    except ServiceError as exc:
        if os.environ.get("DEBUG") == "1":
            raise
        sys.stderr.write(f"borne: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("DEBUG") == "1":
            raise
        sys.stderr.write(f"borne: error: {type(exc).__name__}: {exc} (DEBUG=1 for a traceback)\n")
        return 1
    return code
