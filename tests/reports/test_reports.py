"""Monthly reports: the PDF's pages rendered by pdftoppm, and the e-mails through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from borne.cli import app
from borne.cli.errors import CliError
from collector.auth import Level
from collector.db.engine import session_factory
from collector.reports.monthly import Zone, build, month_label
from devtools.builders import migrated_engine
from tests.dashboard.seed import Place, seed

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is missing")
#: The last complete month: the seed's 70 days of votes end today.
TODAY = date.today()
NOVEMBER = date(TODAY.year - (TODAY.month == 1), 12 if TODAY.month == 1 else TODAY.month - 1, 1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    folder = tmp_path_factory.mktemp("reports")
    engine = migrated_engine(f"sqlite:///{folder / 'borne.sqlite3'}")
    seed(engine, [Place("fs-22a", "France services de Guingamp", "22", 0.97),
                  Place("fs-22b", "France services de Lannion", "22", 0.80),
                  Place("fs-29a", "France services de Morlaix", "29", 0.92),
                  Place("fs-75a", "France services Paris 19e", "75", 0.90)],
         days=70)
    yield engine
    engine.dispose()


def render(pdf: bytes, folder: Path) -> list[Path]:
    source = folder / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(source), str(folder / "page")], check=True,
                   capture_output=True, timeout=60)
    return sorted(folder.glob("page*.png"))


def text_of(pdf: bytes, folder: Path) -> str:
    source = folder / "report.pdf"
    source.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout


@pytest.mark.parametrize("zone", [Zone(Level.NATIONAL), Zone(Level.DEPARTEMENT, "22"), Zone(Level.ESPACE, "fs-29a")],
                         ids=lambda z: z.key)
def test_a_report_renders_with_its_figures(engine: Engine, zone: Zone, tmp_path: Path) -> None:
    with session_factory(engine)() as session:
        pdf = build(session, zone, NOVEMBER)
    pages = render(pdf, tmp_path)
    assert len(pages) == 1 and pages[0].stat().st_size > 5_000  # drawn, not blank
    text = text_of(pdf, tmp_path)
    assert "Rapport mensuel" in text and month_label(NOVEMBER) in text.lower()
    assert "Taux de satisfaction" in text and "objectif 95,0 %" in text
    if zone.level is Level.DEPARTEMENT:
        assert "Côtes-d'Armor (22)" in text and "France services de Lannion" in text
        assert "Morlaix" not in text  # another département's espace


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    from collector.broker.mosquitto import free_port

    inbox = Inbox()
    controller = controller_module.Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def test_reports_are_mailed_to_their_zones_subscribers_once(engine: Engine, smtp: tuple[Inbox, int],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp
    subscriptions = tmp_path / "reports.toml"
    subscriptions.write_text(
        '[[subscription]]\nemail = "pref-22@example.gouv.fr"\nlevel = "departement"\ncode = "22"\n'
        '[[subscription]]\nemail = "sous-pref-22@example.gouv.fr"\nlevel = "departement"\ncode = "22"\n'
        '[[subscription]]\nemail = "anct@example.gouv.fr"\nlevel = "national"\n', encoding="utf-8")
    monkeypatch.setenv("BORNE_REPORT_SUBSCRIPTIONS", str(subscriptions))
    monkeypatch.setenv("BORNE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BORNE_SMTP_PORT", str(port))
    monkeypatch.setenv("BORNE_SMTP_SENDER", "borne@example.gouv.fr")
    url = str(engine.url)
    args = ["collector", "report", "send", "--month", f"{NOVEMBER:%Y-%m}", "--due", "--database-url", url,
            "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(sorted(r) for r, _ in inbox.messages) == [
        ["anct@example.gouv.fr"], ["pref-22@example.gouv.fr", "sous-pref-22@example.gouv.fr"]]
    for recipients, msg in inbox.messages:
        assert "example.gouv.fr" not in (msg["To"] or "")  # recipients do not see each other
        assert month_label(NOVEMBER) in msg["Subject"]
        attachments = [p for p in msg.walk() if p.get_content_type() == "application/pdf"]
        assert len(attachments) == 1
        pdf = attachments[0].get_payload(decode=True)
        assert isinstance(pdf, bytes)
        folder = tmp_path / recipients[0]
        folder.mkdir()
        assert len(render(pdf, folder)) == 1
        expected = "Côtes-d'Armor" if "pref-22@example.gouv.fr" in recipients else "France entière"
        assert expected in msg["Subject"]
    # The schedule runs it again the next day: nothing is sent twice.
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "already sent" in again.output
    assert len(inbox.messages) == 2


def test_a_report_for_the_command_line(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(app, ["collector", "report", "pdf", "--level", "departement", "--code", "22",
                                      "--month", f"{NOVEMBER:%Y-%m}", "-o", str(out),
                                      "--database-url", str(engine.url)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-1.4") and len(render(out.read_bytes(), tmp_path)) == 1
    bad = CliRunner().invoke(app, ["collector", "report", "pdf", "--month", "novembre", "-o", str(out),
                                   "--database-url", str(engine.url)])
    assert isinstance(bad.exception, CliError) and "like 2026-11" in str(bad.exception)


def test_the_collector_sends_last_months_reports_on_its_own(engine: Engine, smtp: tuple[Inbox, int],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collector.reports.mail import ReportSettings
    from collector.reports.schedule import ReportLoop

    inbox, port = smtp
    subscriptions = tmp_path / "reports.toml"
    subscriptions.write_text('[[subscription]]\nemail = "agent@example.gouv.fr"\nlevel = "espace"\n'
                             'code = "fs-29a"\n', encoding="utf-8")
    settings = ReportSettings(report_subscriptions=subscriptions, smtp_host="127.0.0.1", smtp_port=port)
    loop = ReportLoop(engine, tmp_path, interval=0.2, settings=settings).start()
    try:
        deadline = time.monotonic() + 30
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # several more checks: the month is not sent twice
    finally:
        loop.close()
        loop.close()
    assert [r for r, _ in inbox.messages] == [["agent@example.gouv.fr"]]
    assert "France services de Morlaix" in inbox.messages[0][1]["Subject"]
