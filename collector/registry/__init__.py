"""What the collector knows of the network: espaces and their kiosks, their activity, and France's geography.

:mod:`~collector.registry.espaces` registers espaces and kiosks (and moves a kiosk, keeping its history);
:mod:`~collector.registry.espaces_import` imports the espaces' list; :mod:`~collector.registry.activity` imports
the acts carried out per espace; :mod:`~collector.registry.geography` maps départements to régions and time zones.
"""
