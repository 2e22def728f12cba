"""The collector process: database, ingest and API together, stopped cleanly."""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from sqlalchemy import Engine

from collector.alerts import AlertLoop
from collector.api.app import create_app
from collector.broker.accounts import (
    BrokerAccounts,
    accounts_for,
    kiosk_broker,
    sync_kiosk_grants,
    sync_revoked,
)
from collector.broker.mosquitto import EmbeddedBroker, PortTaken, port_free
from collector.config import Settings
from collector.db.engine import engine_for, redact_url
from collector.db.migrate import ensure_current
from collector.ingest.brokers import IngestOnBrokers, ingest_for
from collector.ingest.store import Store
from collector.ingest.subscriber import Ingestor
from collector.ingest.workers import IngestWorkers, check_workers
from collector.metrics import Metrics
from collector.reports.mail import ReportSettings
from collector.reports.schedule import ReportLoop

_LOG = logging.getLogger(__name__)

#: The garbage collector's thresholds while serving: a young collection every 50,000 allocations net (CPython's
#: default, 700, runs dozens during one national query building 12,000 rows), an older one every 20 of those, a
#: full one every 100 older ones (and, CPython's own rule, only once a quarter of the old objects are new).
SERVING_GC_THRESHOLDS = (50_000, 20, 100)


def settle_gc() -> None:
    """Take what start-up left alive out of the garbage collector's way, for a process that serves from now on.

    A full collection walks every object of the process (about 200,000 once SQLAlchemy, pandas and FastAPI are
    loaded: some 90 ms), and a query allocating its rows sets one off now and then: most of the KPI queries'
    p95 (docs/performance.md). This collects once, then freezes the survivors (:func:`gc.freeze`: the modules,
    settings, engine and app, alive until the end, are never scanned again) and raises the thresholds
    (:data:`SERVING_GC_THRESHOLDS`). Cycles made later are still collected; what is frozen is never freed, so it
    is called once, by the serving process (``borne collector serve``) after its start-up, not by library code
    (tests start collectors again and again in one process).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)
    _LOG.debug("garbage collector settled: %d objects frozen, thresholds %s", gc.get_freeze_count(),
               SERVING_GC_THRESHOLDS)


@dataclass
class Collector:
    """Everything one collector process runs. :meth:`start`, then :meth:`close` (safe twice)."""

    settings: Settings
    engine: Engine | None = None
    metrics: Metrics = field(default_factory=Metrics)
    broker: EmbeddedBroker | None = None
    accounts: BrokerAccounts | None = None
    ingest: Ingestor | IngestOnBrokers | IngestWorkers | None = None
    server: uvicorn.Server | None = None
    alerts: AlertLoop | None = None
    reports: ReportLoop | None = None
    _api_thread: threading.Thread | None = None

    def start(self, *, api: bool = True) -> Collector:
        """Start everything; :class:`PortTaken` if the API's port is taken (checked first, then at bind)."""
        s = self.settings
        check_workers(s)
        if api and s.api_port and not port_free(s.api_host, s.api_port):
            raise _api_port_taken(s)
        if s.embedded_broker:
            s.data_dir.mkdir(parents=True, exist_ok=True)
            self.broker = EmbeddedBroker(s.mqtt_host, s.mqtt_port, data_dir=s.data_dir,
                                         accounts=s.mqtt_accounts == "embedded")
            self.broker.start()
        # Kiosks' broker accounts; on the embedded broker, the collector's own are made here.
        self.accounts = accounts = accounts_for(s, self.broker)
        url = s.effective_database_url
        _LOG.info("database %s", redact_url(url))
        self.engine = engine_for(s)
        ensure_current(self.engine)
        sync_revoked(accounts, self.engine)
        sync_kiosk_grants(accounts, self.engine)  # kiosks provisioned before a topic was added get it
        if s.ingest_workers > 1:
            self.ingest = IngestWorkers(s, self.metrics).start()
        else:
            store = Store(self.engine, self.metrics, rejects_per_kiosk_per_minute=s.rejects_per_kiosk_per_minute)
            self.ingest = ingest_for(s, store, self.metrics).start()
        if s.alerts_interval_s > 0:
            self.alerts = AlertLoop(self.engine, interval=s.alerts_interval_s).start()
        report_settings = ReportSettings()
        if report_settings.report_subscriptions is not None:  # monthly reports, once due (docs/reports.md)
            self.reports = ReportLoop(self.engine, s.data_dir, settings=report_settings).start()
        if api:
            app = create_app(self.engine, metrics=self.metrics, ingest=self.ingest,
                             metrics_token=s.effective_metrics_token, metrics_open=s.api_on_loopback)
            if s.effective_metrics_token is None and not s.api_on_loopback:
                _LOG.warning("/metrics is refused: the API listens on %s and no metrics token is set "
                             "(BORNE_METRICS_TOKEN)", s.api_host)
            app.state.borne.extra.update(accounts=accounts, kiosk_broker=kiosk_broker(s), settings=s)
            # Forwarded headers only from the proxies named: uvicorn would believe any local process.
            config = uvicorn.Config(app, host=s.api_host, port=s.api_port, log_level="warning",
                                    lifespan="off", proxy_headers=bool(s.trusted_proxies.strip()),
                                    forwarded_allow_ips=s.trusted_proxies.strip() or "")
            self.server = uvicorn.Server(config)
            self._api_thread = threading.Thread(target=self.server.run, name="api", daemon=True)
            self._api_thread.start()
            self._wait_for_api()
        return self

    def _wait_for_api(self, timeout: float = 30.0) -> None:
        """Until uvicorn listens; a thread that died first could not bind (a port taken in between)."""
        server, thread = self.server, self._api_thread
        if server is None or thread is None:
            return
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise _api_port_taken(self.settings)
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start within {timeout:.0f} s")
            time.sleep(0.02)

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.api_port}"

    def close(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            if self._api_thread is not None:
                self._api_thread.join(5)
            self.server = None
        if self.alerts is not None:
            self.alerts.close()
            self.alerts = None
        if self.reports is not None:
            self.reports.close()
            self.reports = None
        if self.ingest is not None:
            self.ingest.close()
            self.ingest = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def __enter__(self) -> Collector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _api_port_taken(settings: Settings) -> PortTaken:
    return PortTaken(f"port {settings.api_port} on {settings.api_host} is taken (another collector?): "
                     f"choose another with --api-port or BORNE_API_PORT")
