"""The collector: takes votes off MQTT, ties each to its espace, stores it once, and serves the KPIs.

broker -> :mod:`collector.ingest` (MQTT) -> :mod:`collector.store` (one transaction) -> database
-> :mod:`collector.api` (FastAPI)
"""
