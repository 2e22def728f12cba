"""A TCP proxy that misbehaves on demand: the network between a kiosk and its broker, for fault tests.

    with FaultProxy("127.0.0.1", broker.port) as proxy:
        config = simulated_config(..., port=proxy.port)
        proxy.set_delay(0.2)      # every chunk, both ways, arrives 200 ms late
        proxy.blackhole(True)     # connections stay open but nothing gets through (a dead 4G link)
        proxy.cut()               # reset every open connection now (a modem reboot)
        proxy.refuse(True)        # new connections are closed at once (no route)
        proxy.drop(0.1)           # each chunk kills its connection with this probability (a flaky link)

Threads and blocking sockets only, so that it works inside any test without an event loop. Counters
(``connections``, ``bytes_up``, ``bytes_down``, ``cuts``) let a test see that traffic did or did not flow.
Used by ``tests/field`` and meant for the later chaos soak: keep the API small and stable.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import socket
import threading
import time
from dataclasses import dataclass

_LOG = logging.getLogger(__name__)

_CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    connections: int = 0
    refused: int = 0
    cuts: int = 0
    drops: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class _Pair:
    """One client connection and its upstream twin, pumped both ways by one thread."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._pump, name="faultproxy-pair", daemon=True)

    def close(self, *, reset: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                if reset:  # RST rather than FIN, as a dying link does
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()

    def _pump(self) -> None:
        peers = {self.client: self.upstream, self.upstream: self.client}
        try:
            while not self.closed.is_set():
                try:
                    readable, _, _ = select.select(list(peers), [], [], 0.1)
                except (OSError, ValueError):
                    break
                for sock in readable:
                    data = sock.recv(_CHUNK)
                    if not data:
                        self.close()
                        return
                    verdict = self.proxy._forward(self, data)
                    if verdict is None:
                        return
                    if not verdict:
                        continue  # swallowed (blackhole)
                    peers[sock].sendall(data)
                    if sock is self.client:
                        self.proxy.stats.bytes_up += len(data)
                    else:
                        self.proxy.stats.bytes_down += len(data)
        except OSError:
            pass
        finally:
            self.close()
            self.proxy._forget(self)


class FaultProxy:
    """Listens on ``127.0.0.1:<port>`` and forwards to ``target_host:target_port``, with faults on demand."""

    def __init__(self, target_host: str, target_port: int, *, port: int = 0, seed: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.stats = ProxyStats()
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._delay = 0.0
        self._blackhole = False
        self._refuse = False
        self._drop = 0.0
        self._rng = random.Random(seed)

    # -- lifetime ------------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._requested_port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._requested_port = listener.getsockname()[1]  # a restart keeps the same port
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return self._requested_port

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def stop(self) -> None:
        """Close the listener and every connection; safe to call twice; :meth:`start` again reuses the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        self.cut()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults --------------------------------------------------------------------------------------------

    def cut(self) -> int:
        """Reset every open connection now; returns how many. New connections are accepted as before."""
        with self._lock:
            pairs, self._pairs = list(self._pairs), set()
        for pair in pairs:
            pair.close(reset=True)
        if pairs:
            self.stats.cuts += len(pairs)
            _LOG.info("faultproxy: cut %d connections", len(pairs))
        return len(pairs)

    def set_delay(self, seconds: float) -> None:
        """Hold every chunk this long before forwarding it (both directions); 0 for none."""
        self._delay = max(0.0, seconds)

    def blackhole(self, on: bool = True) -> None:
        """Swallow all traffic silently while on: connections stay open, nothing arrives (keep-alives fail)."""
        self._blackhole = on

    def refuse(self, on: bool = True) -> None:
        """Close new connections at once while on (the broker is unreachable)."""
        self._refuse = on

    def drop(self, probability: float) -> None:
        """Each forwarded chunk resets its connection with this probability; 0 to stop."""
        self._drop = min(1.0, max(0.0, probability))

    def heal(self) -> None:
        """No delay, no blackhole, no refusal, no drops."""
        self._delay, self._blackhole, self._refuse, self._drop = 0.0, False, False, 0.0

    # -- inside --------------------------------------------------------------------------------------------

    def _forward(self, pair: _Pair, data: bytes) -> bool | None:
        """True: send ``data`` on; False: swallow it (blackhole); None: the pair is closed (drop, cut)."""
        if self._drop and self._rng.random() < self._drop:
            self.stats.drops += 1
            pair.close(reset=True)
            return None
        if self._delay:
            time.sleep(self._delay)
        if pair.closed.is_set():
            return None
        return not self._blackhole

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._refuse:
                self.stats.refused += 1
                with contextlib.suppress(OSError):
                    client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError as exc:
                _LOG.info("faultproxy: upstream %s:%d unreachable: %s", *self.target, exc)
                with contextlib.suppress(OSError):
                    client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            pair = _Pair(self, client, upstream)
            with self._lock:
                self._pairs.add(pair)
            self.stats.connections += 1
            pair.thread.start()
