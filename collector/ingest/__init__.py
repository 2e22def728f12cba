"""The collector's side of the vote path, one module per step.

:mod:`~collector.ingest.subscriber` takes the kiosks' messages from the broker (MQTT 5 shared subscriptions) and
acknowledges each only after :mod:`~collector.ingest.store` committed it; :mod:`~collector.ingest.workers` runs
several subscribers in processes of their own. The store decodes (:mod:`~collector.ingest.decoding`), checks the
kiosk (:mod:`~collector.ingest.kiosk_state`), writes the votes once (:mod:`~collector.ingest.votes`), bumps the
counts KPIs read (:mod:`~collector.ingest.rollups`) and keeps what cannot be counted
(:mod:`~collector.ingest.rejects`, budgeted by :mod:`~collector.ingest.reject_budget`), all in one transaction.
"""
