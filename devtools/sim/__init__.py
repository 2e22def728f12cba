"""A fleet simulator: thousands of kiosks on one machine, each a real MQTT connection to a real broker.

``borne sim --kiosks N``: :mod:`devtools.sim.mqtt` is a minimal asyncio MQTT 3.1.1 client (one
``asyncio.Protocol`` per connection, a few kilobytes each, so that 30,000 fit in one process), and
:mod:`devtools.sim.fleet` makes each connection behave like a kiosk: retained ``online`` status with an
``offline`` Last Will, heartbeats, votes at a realistic or scaled pace, and a backlog mode in which every kiosk
comes back with a week of votes and sends them in batches, as the kiosk's uplink does.
"""
