"""The collector's broker side: the embedded Mosquitto, its accounts, remote configuration, and the MQTT client.

:mod:`~collector.broker.mosquitto` starts and configures the embedded broker; :mod:`~collector.broker.accounts`
keeps the kiosks' accounts in its dynamic security plugin; :mod:`~collector.broker.remote_config` publishes the
kiosks' retained remote configuration; :mod:`~collector.broker.client` is the only place the collector sets up a
paho client (an import-linter contract keeps it so).
"""
