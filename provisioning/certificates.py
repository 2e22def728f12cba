"""The CA certificates a bundle carries (the broker's, the update server's): checked on the technician's machine.

What goes into a bundle lands on the boot partition of a card in a public place, readable by whoever takes it:
a file given as a CA certificate must hold certificates and nothing else. A PEM that also holds a private key
(a server's ``cert+key`` file picked by mistake) is refused before anything is written or registered, so is a
file that is not PEM or whose certificates do not parse, or an expired certificate (a kiosk could never check a
server against it).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

_LOG = logging.getLogger(__name__)

MAX_CA_BYTES = 1024 * 1024  # a system's whole trust store is about 200 kB
_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")


class CertificateInvalid(ValueError):
    """A file given as a CA certificate is not one (a private key, not PEM, expired ...)."""


def read_ca_certificates(path: Path) -> str:
    """The PEM text of ``path``, one or more certificates and nothing else; :class:`CertificateInvalid` saying
    why otherwise."""
    try:
        if path.stat().st_size > MAX_CA_BYTES:
            raise CertificateInvalid(f"{path}: larger than {MAX_CA_BYTES // 1024} kB, not a CA certificate")
        text = path.read_text(encoding="ascii")
    except OSError as exc:
        raise CertificateInvalid(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise CertificateInvalid(f"{path}: not a PEM certificate (binary; a DER file converts with 'openssl x509 "
                                 "-inform der -in FILE -out FILE.pem')") from None
    kinds = _BLOCK.findall(text)
    if any("PRIVATE KEY" in kind for kind in kinds):
        raise CertificateInvalid(f"{path}: holds a private key; give the CA's certificate only (it is copied onto "
                                 "the card, which anyone can read)")
    others = sorted({kind for kind in kinds if kind != "CERTIFICATE"})
    if others:
        raise CertificateInvalid(f"{path}: holds {', '.join(others)}, not only certificates")
    if not kinds:
        raise CertificateInvalid(f"{path}: not a PEM certificate (no '-----BEGIN CERTIFICATE-----')")
    try:
        certificates = x509.load_pem_x509_certificates(text.encode("ascii"))
    except ValueError as exc:
        raise CertificateInvalid(f"{path}: a certificate does not parse ({exc})") from None
    now = datetime.now(UTC)
    for certificate in certificates:
        if certificate.not_valid_after_utc < now:
            raise CertificateInvalid(f"{path}: {certificate.subject.rfc4514_string()} expired on "
                                     f"{certificate.not_valid_after_utc:%Y-%m-%d}")
    _LOG.debug("%s: %d CA certificate(s)", path, len(certificates))
    return text
