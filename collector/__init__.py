"""The collector: takes votes off MQTT, ties each to its espace, stores it once, and serves the KPIs.

broker -> :mod:`collector.ingest.subscriber` (MQTT) -> :mod:`collector.ingest.store` (one transaction) -> database
-> :mod:`collector.api` (FastAPI)
"""
