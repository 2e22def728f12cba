"""The collector keeps a kiosk's last self-test (migration i7selftest), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.db.engine import session_factory
from collector.db.models import Kiosk
from collector.ingest.store import Incoming, Store
from devtools.builders import migrated_engine, register, rejects
from protocol.codec import encode
from protocol.models import CheckOutcome, SelfTestCheck, SelfTestReport
from protocol.topics import TopicKind, kiosk_topic


def test_selftest_is_stored(database_url: str) -> None:
    engine = migrated_engine(database_url)
    register(engine, {"k-1": ("fs-1", "22")})
    report = SelfTestReport(ts=datetime(2026, 11, 23, 9, 30, tzinfo=UTC), passed=False, checks=[
        SelfTestCheck(name="buttons", outcome=CheckOutcome.PASSED, detail="4 buttons"),
        SelfTestCheck(name="clock", outcome=CheckOutcome.FAILED, detail="not synchronised"),
    ])
    now = datetime.now(UTC)
    outcome = Store(engine).ingest([
        Incoming(kiosk_topic("k-1", TopicKind.SELFTEST), encode(report), now),
        Incoming(kiosk_topic("k-1", TopicKind.SELFTEST), b'{"v": 1, "passed": true}', now),
    ])
    assert outcome.rejected == {"invalid": 1}
    with session_factory(engine)() as session:
        kiosk = session.get(Kiosk, "k-1")
        assert kiosk is not None and kiosk.selftest is not None and kiosk.selftest_at is not None
        assert kiosk.selftest["passed"] is False
        assert kiosk.selftest_at.replace(tzinfo=kiosk.selftest_at.tzinfo or UTC) == report.ts
    assert [r.reason for r in rejects(engine)] == list(outcome.rejected)
