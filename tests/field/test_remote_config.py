"""Remote configuration: published retained by the collector, validated and applied live by the kiosk,
reported back in its telemetry; an invalid one is refused, reported, and the old one kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from borne.cli import app
from borne.cli.errors import CliError
from collector.broker.remote_config import KioskConfigError, build, parse_hours, publish, reported, retained, targets
from collector.config import Settings
from collector.db.engine import session_factory
from devtools.kiosk_sim import wait_until
from kiosk.clock import ManualClock
from kiosk.config import KioskConfig, VotingConfig
from kiosk.remote_config import RemoteSettings
from kiosk.service import Kiosk
from protocol.codec import encode
from protocol.models import RemoteConfig
from tests.field.conftest import Site

runner = CliRunner()


def applied(site: Site, kiosk_id: str) -> tuple[str | None, str | None]:
    with session_factory(site.engine)() as session:
        (r,) = reported(session, [kiosk_id])
    return r.applied, r.rejected


def touch_kiosk(tmp_path: Path, kiosk_id: str, port: int, **kwargs: object) -> Kiosk:
    config = KioskConfig.of(kiosk_id=kiosk_id, data_dir=tmp_path / kiosk_id, ui="touch",
                         broker={"port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
                         uplink={"heartbeat_s": 30})
    return Kiosk(config, **kwargs)  # type: ignore[arg-type]


# -- the kiosk's side, without a broker ----------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "why"), [
    (b"{not json", "not-json"),
    (b'{"v":1,"version":"v2","scale":7}', "scale"),
    (b'{"v":1,"version":"v2","opening_hours":{"mon":"9h-17h"}}', "HH:MM-HH:MM"),
    (b'{"v":1,"version":"v2","opening_hours":{"lun":"09:00-12:00"}}', "weekday"),
    (b'{"v":1,"version":"v2","language":"it"}', "language"),
    (b'{"v":1,"version":"v2","volume":11}', "volume"),
    (b'{"v":2,"version":"v2"}', "v"),
])
def test_an_invalid_configuration_is_refused_whole_and_the_old_one_kept(tmp_path: Path, payload: bytes,
                                                                        why: str) -> None:
    remote = RemoteSettings(VotingConfig(), tmp_path / "remote.json")
    seen: list[VotingConfig] = []
    remote.appliers.append(seen.append)
    assert remote.handle(encode(RemoteConfig(version="v1", scale=5, followup=False)))
    assert remote.handle(payload) is False
    assert remote.version == "v1" and remote.current.scale == 5 and not remote.current.followup
    assert remote.rejected is not None and why in remote.rejected
    assert len(seen) == 1


def test_a_gpio_kiosk_refuses_a_scale_its_buttons_cannot_offer(tmp_path: Path) -> None:
    config = KioskConfig.of(kiosk_id="k-1", data_dir=tmp_path / "k-1")  # four buttons
    with Kiosk(config, clock=ManualClock(), connect=False, maintenance_s=3600) as kiosk:
        assert not kiosk.remote.handle(encode(RemoteConfig(version="v5", scale=5)))
        assert "buttons" in (kiosk.remote.rejected or "")
        assert kiosk.remote.handle(encode(RemoteConfig(version="v6", repeat_interval_s=30, language="en")))
        assert kiosk.recorder.repeat_interval == 30 and kiosk.config.voting.language == "en"
        assert kiosk.health()["config_version"] == "v6" and kiosk.health()["config_rejected"] is None


def test_applied_live_kept_over_a_restart_and_cleared(tmp_path: Path) -> None:
    clock = ManualClock()
    with touch_kiosk(tmp_path, "k-1", 1883, clock=clock, connect=False, maintenance_s=3600) as kiosk:
        changes: list[VotingConfig] = []
        kiosk.config_listeners.append(changes.append)
        assert kiosk.recorder.record(4).scale == 4
        assert kiosk.remote.handle(encode(RemoteConfig(version="v1", scale=3, repeat_interval_s=0)))
        clock.advance(1)
        vote = kiosk.recorder.record(3)
        assert (vote.scale, vote.misuse) == (3, False)
        assert [c.scale for c in changes] == [3]
        with pytest.raises(ValueError, match="scale"):
            kiosk.recorder.record(4)
    # Restarted without a network: the saved configuration is in force at once.
    with touch_kiosk(tmp_path, "k-1", 1883, clock=clock, connect=False, maintenance_s=3600) as kiosk:
        assert kiosk.remote.version == "v1" and kiosk.recorder.scale.size == 3
        assert kiosk.remote.handle(b"")  # cleared by the collector
        assert kiosk.remote.version is None and kiosk.recorder.scale.size == 4
    with touch_kiosk(tmp_path, "k-1", 1883, clock=clock, connect=False, maintenance_s=3600) as kiosk:
        assert kiosk.remote.version is None


def test_hours_and_targets_are_checked_on_the_collector(site: Site) -> None:
    assert parse_hours(["mon=09:00-12:00,13:30-17:00", "sat="]) == {"mon": "09:00-12:00,13:30-17:00", "sat": ""}
    with pytest.raises(KioskConfigError):
        parse_hours(["monday 9-5"])
    with pytest.raises(KioskConfigError, match="scale"):
        build(scale=9)
    with session_factory(site.engine)() as session:
        assert targets(session, espace_id="fs-1") == ["k-1", "k-2"]
        with pytest.raises(KioskConfigError):
            targets(session, kiosk_id="nope")
        with pytest.raises(KioskConfigError):
            targets(session)


# -- through the broker ---------------------------------------------------------------------------------------


def test_published_per_espace_applied_reported_and_refused(site: Site, tmp_path: Path) -> None:
    settings = Settings(mqtt_port=site.port)
    k1 = touch_kiosk(tmp_path, "k-1", site.port)
    k3 = touch_kiosk(tmp_path, "k-3", site.port)
    try:
        config = build("2026-03-a", scale=5, followup=False, opening_hours={"mon": "09:00-12:00"})
        with session_factory(site.engine)() as session:
            publish(settings, targets(session, espace_id="fs-1"), config)
        assert wait_until(lambda: applied(site, "k-1") == ("2026-03-a", None), 20)
        assert k1.recorder.scale.size == 5 and k1.config.voting.followup is False
        assert k1.config.voting.opening_hours == {"mon": "09:00-12:00"}
        assert k3.remote.version is None  # another espace
        assert isinstance(retained(settings, ["k-2"])["k-2"], RemoteConfig)  # waiting for k-2 when it comes

        # An invalid one, published by hand past the collector's checks: refused, reported, old one kept.
        import paho.mqtt.publish as mqtt_publish

        mqtt_publish.single("fs/v1/kiosks/k-1/config", b'{"v":1,"version":"bad-1","scale":9}', qos=1,
                            retain=True, hostname="127.0.0.1", port=site.port)
        assert wait_until(lambda: (applied(site, "k-1")[1] or "").startswith("bad-1"), 20)
        assert applied(site, "k-1")[0] == "2026-03-a" and k1.recorder.scale.size == 5
    finally:
        k1.close()
        k3.close()


def test_a_kiosk_that_was_away_gets_it_when_it_connects(site: Site, tmp_path: Path) -> None:
    publish(Settings(mqtt_port=site.port), ["k-2"], build("v7", repeat_interval_s=10))
    with touch_kiosk(tmp_path, "k-2", site.port) as kiosk:
        assert wait_until(lambda: kiosk.remote.version == "v7", 20)
        assert kiosk.recorder.repeat_interval == 10
        assert wait_until(lambda: applied(site, "k-2") == ("v7", None), 20)


def test_cli_set_show_clear(site: Site, tmp_path: Path) -> None:
    common = ["--database-url", site.url, "--mqtt-port", str(site.port)]
    with touch_kiosk(tmp_path, "k-1", site.port) as kiosk:
        result = runner.invoke(app, ["collector", "kiosks", "config", "set", "k-1", "--version", "cli-1",
                                     "--scale", "3", "--no-followup", "--hours", "tue=08:30-12:00",
                                     "--language", "es", *common])
        assert result.exit_code == 0, result.output
        assert "cli-1 published to 1 kiosk(s): k-1" in result.output
        assert wait_until(lambda: applied(site, "k-1") == ("cli-1", None), 20)
        assert kiosk.config.voting.language == "es" and kiosk.config.voting.opening_hours == {"tue": "08:30-12:00"}
        result = runner.invoke(app, ["collector", "kiosks", "config", "show", "--espace", "fs-1", *common])
        assert result.exit_code == 0, result.output
        assert "k-1\tpublished cli-1\tapplied cli-1" in result.output
        assert "k-2\tpublished -\tapplied -" in result.output
        result = runner.invoke(app, ["collector", "kiosks", "config", "set", "k-1", "--scale", "8", *common])
        assert isinstance(result.exception, CliError)
        result = runner.invoke(app, ["collector", "kiosks", "config", "clear", "k-1", *common])
        assert result.exit_code == 0, result.output
        assert wait_until(lambda: kiosk.remote.version is None, 20)
        assert kiosk.config.voting.language == "fr"
