"""A minimal MQTT 3.1.1 client on asyncio, for the fleet simulator.

Only what a kiosk does: CONNECT with a Last Will, PUBLISH at QoS 0 and 1 (waiting for PUBACK), SUBSCRIBE,
receiving QoS 1 messages (acknowledged), PINGREQ, DISCONNECT, and :meth:`MqttConnection.kill` that drops the
TCP connection without a word, so that the broker publishes the Will. paho is one thread and several objects per
client; this is one protocol object per connection, which is what lets one process hold 30,000 of them.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

_LOG = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    1, 2, 3, 4, 8, 9, 12, 13, 14)


class MqttError(ConnectionError):
    """The broker refused us or the connection broke."""


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(data)) + data


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + _remaining_length(len(body)) + body


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttConnection(asyncio.Protocol):
    """One client connection. ``on_message(topic, payload)`` is called for each message received."""

    def __init__(self, client_id: str, *, keepalive: int = 60, will: Will | None = None,
                 on_message: Callable[[str, bytes], None] | None = None) -> None:
        self.client_id = client_id
        self.keepalive = keepalive
        self.will = will
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._connack: asyncio.Future[int] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._pinger: asyncio.Task[None] | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        while len(buf) >= 2:
            length, multiplier, i = 0, 1, 1
            while True:
                if i >= len(buf):
                    return
                byte = buf[i]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                i += 1
                if not byte & 0x80:
                    break
            if len(buf) < i + length:
                return
            header, body = buf[0], bytes(buf[i:i + length])
            del buf[:i + length]
            self._handle(header >> 4, header & 0x0F, body)

    def connection_lost(self, exc: Exception | None) -> None:
        error = MqttError(f"{self.client_id}: connection lost ({exc})")
        for future in [*self._waiting.values(), self._connack]:
            if future is not None and not future.done():
                future.set_exception(error)
        self._waiting.clear()
        if self._pinger is not None:
            self._pinger.cancel()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    # -- packets in -----------------------------------------------------------------------------------------

    def _handle(self, kind: int, flags: int, body: bytes) -> None:
        if kind == CONNACK and self._connack is not None and not self._connack.done():
            self._connack.set_result(body[1])
        elif kind in (PUBACK, SUBACK):
            (mid,) = struct.unpack_from("!H", body)
            future = self._waiting.pop(mid, None)
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == PUBLISH:
            qos = (flags >> 1) & 0x03
            (topic_len,) = struct.unpack_from("!H", body)
            topic = body[2:2 + topic_len].decode()
            start = 2 + topic_len
            if qos:
                mid_bytes = body[start:start + 2]
                start += 2
                self._write(packet(PUBACK, 0, mid_bytes))
            if self.on_message is not None:
                self.on_message(topic, body[start:])

    # -- packets out ----------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise MqttError(f"{self.client_id}: not connected")
        self.transport.write(data)

    def _mid(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    async def handshake(self, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        self._connack = loop.create_future()
        self._closed = loop.create_future()
        flags = 0x02  # clean session: the kiosk's durability is its own outbox
        payload = _str(self.client_id)
        if self.will is not None:
            flags |= 0x04 | (self.will.qos << 3) | (0x20 if self.will.retain else 0)
            payload += _str(self.will.topic) + _str(self.will.payload)
        body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive) + payload
        self._write(packet(CONNECT, 0, body))
        code = await asyncio.wait_for(self._connack, timeout)
        if code != 0:
            raise MqttError(f"{self.client_id}: broker refused the connection (code {code})")
        if self.keepalive:
            self._pinger = loop.create_task(self._ping())

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive * 0.75)
            self._write(packet(PINGREQ, 0, b""))

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> asyncio.Future[None]:
        """Send a PUBLISH; the future completes at its PUBACK (at once for QoS 0)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        header = _str(topic)
        if qos:
            mid = self._mid()
            header += struct.pack("!H", mid)
            self._waiting[mid] = future
        else:
            future.set_result(None)
        self._write(packet(PUBLISH, (qos << 1) | (1 if retain else 0), header + payload))
        return future

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        await self.publish_nowait(topic, payload, qos=qos, retain=retain)

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        loop = asyncio.get_running_loop()
        mid = self._mid()
        future: asyncio.Future[None] = loop.create_future()
        self._waiting[mid] = future
        self._write(packet(SUBSCRIBE, 0x02, struct.pack("!H", mid) + _str(topic) + bytes([qos])))
        await future

    async def disconnect(self) -> None:
        """A clean goodbye: the broker discards the Will."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet(DISCONNECT, 0, b""))
            self.transport.close()
        if self._closed is not None:
            await self._closed

    def kill(self) -> None:
        """Drop the connection without DISCONNECT, as a kiosk losing power does: the broker sends the Will."""
        if self.transport is not None:
            self.transport.abort()


async def connect(host: str, port: int, client_id: str, *, keepalive: int = 60, will: Will | None = None,
                  on_message: Callable[[str, bytes], None] | None = None, local_host: str | None = None,
                  timeout: float = 30.0) -> MqttConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(loop.create_connection(
        lambda: MqttConnection(client_id, keepalive=keepalive, will=will, on_message=on_message),
        host, port, local_addr=(local_host, 0) if local_host else None), timeout)
    await protocol.handshake(timeout)
    return protocol
