"""The kiosk as a whole: configuration in, a running outbox, recorder and uplink out.

:class:`Kiosk` is what both front ends (GPIO buttons, touchscreen) sit on. :class:`GpioKiosk` adds the
buttons and LEDs.

Besides, a kiosk looks after itself in the field (a maintenance thread, every ``maintenance_s``):

- when its wall clock becomes synchronised, it re-dates this boot's votes recorded before (from their
  monotonic time) and reports the offset it found;
- it prunes confirmed votes after ``storage.retention_days`` and keeps the outbox's disk reserve;
- it pings systemd's watchdog while the outbox answers and the uplink's thread goes round;
- it applies remote configuration as it comes (:mod:`kiosk.remote_config`) and reports it in its heartbeat,
  with free disk, CPU temperature and clock state (:mod:`kiosk.health`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.clock import Clock, SystemClock
from kiosk.config import KioskConfig, VotingConfig
from kiosk.health import cpu_temp_c, disk_state
from kiosk.outbox import Outbox, StorageFull
from kiosk.recorder import Recorder
from kiosk.remote_config import RemoteSettings
from kiosk.update import UpdateAgent
from kiosk.uplink import Uplink
from kiosk.watchdog import Watchdog
from protocol.wire import Vote

if TYPE_CHECKING:
    from gpiozero.pins import Factory

_LOG = logging.getLogger(__name__)

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def read_boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


class Kiosk:
    """Outbox, recorder and uplink for one kiosk. A context manager; :meth:`close` is safe twice.

    ``config_listeners`` are called with the new :class:`~kiosk.config.VotingConfig` when a remote
    configuration changes it (the touch UI redraws); ``self.config`` always holds the settings in force.
    """

    def __init__(
        self,
        config: KioskConfig,
        *,
        clock: Clock | None = None,
        connect: bool = True,
        watchdog: Watchdog | None = None,
        maintenance_s: float = 1.0,
        boot_id: str | None = None,
        clock_grace_s: float | None = None,
    ) -> None:
        self.config = config
        self.local_config = config
        self.clock = clock or SystemClock()
        self.boot_id = boot_id or read_boot_id()
        self.watchdog = watchdog or Watchdog()
        self.maintenance_s = maintenance_s
        self.config_listeners: list[Callable[[VotingConfig], None]] = []
        self.clock_offset_s: float | None = None
        self.votes_corrected = 0
        self._closed = threading.Event()
        self.remote = RemoteSettings(config.voting, config.data_dir / "remote-config.json", check=self._check_voting)
        voting = self.remote.load_saved()
        self.config = dataclasses.replace(config, voting=voting)
        self.outbox = Outbox(config.outbox_path, max_votes=config.storage.max_votes)
        self.recorder = Recorder(
            self.outbox,
            self.clock,
            scale=voting.scale,
            question=voting.question,
            repeat_interval=voting.repeat_interval_s,
            boot_id=self.boot_id,
        )
        self.remote.appliers.append(self._apply_voting)
        self._was_synced = self.clock.synced()
        self._estimate = (self.clock.now(), self.clock.monotonic())
        self._next_prune = 0.0
        self.uplink: Uplink | None = None
        #: Set when an update switched releases: the front end stops the kiosk, which exits for the supervisor.
        self.restart_requested = threading.Event()
        self.restart_listeners: list[Callable[[], None]] = []
        self.updates: UpdateAgent | None = None
        self._depth_at_start = self.outbox.depth()
        if connect:
            self.updates = UpdateAgent(config, health=self._update_healthy, restart=self._request_restart,
                                       changed=self._heartbeat_soon)
            self.uplink = Uplink(self.outbox, config.kiosk_id, config.broker, config.uplink, self.clock,
                                 on_config=self._on_config, on_release=self.updates.handle,
                                 telemetry_extra=self.health, boot_id=self.boot_id,
                                 clock_grace_s=config.uplink.clock_grace_s if clock_grace_s is None
                                 else clock_grace_s)
            self.recorder.listeners.append(lambda _vote: self._wake_uplink())
            self.uplink.start()
            self.updates.start()
        self.check_clock()
        self._maintenance = threading.Thread(target=self._maintain, name=f"maintenance-{config.kiosk_id}",
                                             daemon=True)
        self._maintenance.start()
        self.watchdog.ready(f"kiosk {config.kiosk_id}")

    def _wake_uplink(self) -> None:
        if self.uplink is not None:
            self.uplink.wake()

    # -- remote configuration ------------------------------------------------------------------------------

    def _check_voting(self, voting: VotingConfig) -> None:
        """What this kiosk can take; raises ValueError. A GPIO kiosk has one button per answer."""
        buttons = len(self.local_config.panel.buttons)
        if self.local_config.ui == "gpio" and voting.scale != buttons:
            raise ValueError(f"scale {voting.scale} does not fit this kiosk's {buttons} buttons")

    def _apply_voting(self, voting: VotingConfig) -> None:
        self.recorder.apply(scale=voting.scale, repeat_interval=voting.repeat_interval_s)
        self.config = dataclasses.replace(self.config, voting=voting)
        for listener in list(self.config_listeners):
            listener(voting)

    def _on_config(self, payload: bytes) -> None:
        self.remote.handle(payload)
        if self.uplink is not None:
            self.uplink.heartbeat_soon()

    # -- updates -------------------------------------------------------------------------------------------

    def _update_healthy(self) -> bool:
        """This start is healthy: connected, a heartbeat sent, and a receipt taken (or no vote waiting for one)."""
        uplink = self.uplink
        if uplink is None or not uplink.connected or uplink.stats.heartbeats < 1:
            return False
        return uplink.stats.receipts > 0 or (self._depth_at_start == 0 and self.outbox.depth() == 0)

    def _request_restart(self) -> None:
        self.restart_requested.set()
        for listener in list(self.restart_listeners):
            listener()

    def _heartbeat_soon(self) -> None:
        if self.uplink is not None:
            self.uplink.heartbeat_soon()

    # -- health --------------------------------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        """The heartbeat's readings beyond the uplink's own."""
        disk = disk_state(self.config.data_dir)
        return {
            "free_disk_bytes": disk.free_bytes,
            "disk_low": disk.low,
            "cpu_temp_c": cpu_temp_c(),
            "config_version": self.remote.version,
            "config_rejected": self.remote.rejected,
            "votes_refused": self.outbox.refused,
            "boot_id": self.boot_id,
            "clock_offset_s": self.clock_offset_s,
            **(self.updates.report() if self.updates is not None else {}),
        }

    def healthy(self) -> bool:
        """Alive and not stuck: the outbox answers, the uplink's thread goes round. Gates the watchdog."""
        try:
            self.outbox.depth()
        except Exception:
            return False
        return self.uplink is None or self.uplink.alive()

    # -- the clock -----------------------------------------------------------------------------------------

    def check_clock(self) -> int:
        """Correct this boot's votes once the wall clock is synchronised; returns how many were corrected."""
        synced = self.clock.synced()
        wall, mono = self.clock.now(), self.clock.monotonic()
        corrected = 0
        if synced and not self._was_synced and self.boot_id:
            last_wall, last_mono = self._estimate
            estimate = last_wall.timestamp() + (mono - last_mono)
            self.clock_offset_s = round(wall.timestamp() - estimate, 3)
            corrected = self.outbox.correct_times(self.boot_id, wall, int(mono * 1000))
            self.votes_corrected += corrected
            _LOG.info("clock synchronised (offset %+.1fs): corrected the time of %d votes of this boot",
                      self.clock_offset_s, corrected)
            if self.uplink is not None:
                self.uplink.heartbeat_soon()
        if not synced:
            self._estimate = (wall, mono)
        self._was_synced = synced
        return corrected

    # -- upkeep --------------------------------------------------------------------------------------------

    def maintain(self) -> None:
        """One round of upkeep; the maintenance thread calls it every ``maintenance_s``."""
        self.check_clock()
        now = time.monotonic()
        if now >= self._next_prune:
            retention = self.config.storage.retention_days * 86400
            self._next_prune = now + min(3600.0, retention / 2)
            self.outbox.prune(retention)
            self.outbox.keep_reserve()
        if self.outbox.low_space:
            self.outbox.reclaim()
        if self.healthy():
            self.watchdog.ping()
        else:
            _LOG.error("kiosk unhealthy: not pinging the watchdog")

    def _maintain(self) -> None:
        interval = self.maintenance_s
        if self.watchdog.interval is not None:
            interval = min(interval, self.watchdog.interval)
        while not self._closed.wait(interval):
            try:
                self.maintain()
            except Exception:
                if self._closed.is_set():
                    return
                _LOG.exception("kiosk upkeep failed; going on")

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self.watchdog.stopping()
        self._maintenance.join(5)
        if self.updates is not None:
            self.updates.close()
        if self.uplink is not None:
            self.uplink.close()
        self.outbox.close()

    def __enter__(self) -> Kiosk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GpioKiosk(Kiosk):
    """A kiosk with physical buttons: a press records a vote, then lights the thank-you LED.

    ``on_feedback`` is called with each vote at the moment its feedback fires, that is after it is on disk.
    """

    def __init__(
        self,
        config: KioskConfig,
        *,
        clock: Clock | None = None,
        pin_factory: Factory | None = None,
        connect: bool = True,
        on_feedback: Callable[[Vote], None] | None = None,
        watchdog: Watchdog | None = None,
        maintenance_s: float = 1.0,
        boot_id: str | None = None,
    ) -> None:
        # Imported here: a touch kiosk need not have gpiozero's pins.
        from hardware.panel import ButtonPanel, FeedbackLeds

        super().__init__(config, clock=clock, connect=connect, watchdog=watchdog, maintenance_s=maintenance_s,
                         boot_id=boot_id)
        self.on_feedback = on_feedback
        try:
            panel = config.panel
            self.panel = ButtonPanel(panel.buttons, pull_up=panel.pull_up, pin_factory=pin_factory)
            self.leds = FeedbackLeds(panel.thanks_led, panel.status_led, pin_factory=pin_factory)
        except Exception:
            super().close()
            raise
        self.panel.when_pressed = self._pressed

    def _pressed(self, answer: int) -> None:
        try:
            self.press(answer)
        except StorageFull as exc:
            # No thanks for a vote that is not on disk; counted and reported in the heartbeat.
            _LOG.error("press of %d not recorded: %s", answer, exc)

    def press(self, answer: int) -> Vote:
        vote = self.recorder.record(answer)
        # The vote is durable: only now may the visitor be thanked.
        self.leds.thank()
        if self.on_feedback is not None:
            self.on_feedback(vote)
        return vote

    def close(self) -> None:
        if self._closed.is_set():
            return
        panel = getattr(self, "panel", None)
        if panel is not None:
            panel.close()
        leds = getattr(self, "leds", None)
        if leds is not None:
            leds.close()
        super().close()
