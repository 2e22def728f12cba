"""``borne release``: the programme's release key, and signed releases (on the programme's machine, never on the
collector: whoever holds the private key can make every kiosk run its code).

    borne release keygen --key release-key.pem          # once; the public key in release-key.pub, for the bundles
    borne release sign WHEELHOUSE --version 0.2.0 --key release-key.pem
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from borne.cli.errors import CliError, requires

_LOG = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)

KeyOpt = typer.Option(..., "--key", help="The programme's Ed25519 private key (PEM), kept off the collector.")


@app.command("keygen")
def keygen(key: Path = KeyOpt) -> None:
    """Make the programme's release key (mode 0600; never overwrites one); writes and prints the public key."""
    with requires("kiosk"):
        from provisioning.release import keygen as make_key
        from provisioning.release import public_key_path
    try:
        public = make_key(key)
    except FileExistsError:
        raise CliError(f"{key} exists: a release key is never overwritten", 2) from None
    typer.echo(f"private key: {key} (keep it offline, off the collector)")
    typer.echo(f"public key (update.public_key in every kiosk's bundle): {public}, in {public_key_path(key)} "
               "(borne provision kiosk new --release-key)")


@app.command("sign")
def sign(
    directory: Path = typer.Argument(..., help="A wheelhouse ('borne provision wheelhouse --out DIR')."),
    version: str = typer.Option(..., "--version", help="The release's version, as kiosks will report it."),
    key: Path = KeyOpt,
    revoke: list[str] = typer.Option(
        [], "--revoke", help="A release withdrawn (a flaw): a kiosk that installs this one will never install it "
                             "again, whoever asks. Repeat it; list the earlier revocations too."),
) -> None:
    """Sign the wheels of DIRECTORY as release VERSION: writes DIRECTORY/release.json."""
    with requires("kiosk"):
        from protocol.release import ReleaseInvalid
        from provisioning.release import load_private_key, public_key_of
        from provisioning.release import sign as sign_release
    try:
        private = load_private_key(key)
        path = sign_release(directory, version, private, revokes=revoke)
    except ReleaseInvalid as exc:
        raise CliError(str(exc), 2) from None
    typer.echo(f"release {version} signed: {path} (public key {public_key_of(private)})")
