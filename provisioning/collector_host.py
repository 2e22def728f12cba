"""Where a kiosk will reach its broker: refused when it cannot be a kiosk's.

A bundle whose ``kiosk.toml`` names ``127.0.0.1``, ``localhost`` or a name that does not resolve makes a kiosk
that never connects, and nobody learns it before the technician stands in the espace. ``borne provision kiosk
new`` refuses such a host unless ``--allow-local-collector`` is given (the tests, a collector on the kiosk).
"""

from __future__ import annotations

import ipaddress
import logging
import socket

_LOG = logging.getLogger(__name__)


class CollectorHostRefused(ValueError):
    """The broker's host, as written into kiosk.toml, cannot be reached by a kiosk."""


def _is_local(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_loopback or ip.is_unspecified


def check_broker_host(host: str, *, resolve: bool = True) -> None:
    """Raise :class:`CollectorHostRefused` when ``host`` is loopback, unspecified or (``resolve``) unresolvable."""
    hint = " (pass --broker-host with the address kiosks reach, or --allow-local-collector for a test)"
    if not host:
        raise CollectorHostRefused("the broker's host is empty" + hint)
    try:
        literal = _is_local(host.strip("[]"))
    except ValueError:
        literal = None
    if literal:
        raise CollectorHostRefused(f"the broker's host {host} is this machine's own address: a kiosk would "
                                   "connect to itself" + hint)
    if literal is False or not resolve:
        return
    if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        raise CollectorHostRefused(f"the broker's host {host} is loopback: a kiosk would connect to itself" + hint)
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise CollectorHostRefused(f"the broker's host {host} does not resolve from here ({exc})" + hint) from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if all(_is_local(a) for a in addresses):
        raise CollectorHostRefused(f"the broker's host {host} resolves to loopback ({', '.join(addresses)}): "
                                   "a kiosk would connect to itself" + hint)
    _LOG.debug("broker host %s resolves to %s", host, ", ".join(addresses))
