"""Development tooling, not part of the product: simulators, demo data and the demo's sign-in provider, throw-away
brokers and databases, a fault proxy, builders of test data.

Shared by ``tests/``, ``bench/`` and the demo; not in the wheel (``pyproject.toml``'s ``packages.find`` leaves it
out), and no product package imports it, except ``borne demo`` and ``borne sim``, lazily, which say so when it is
absent (``docs/architecture.md``; ``tests/test_architecture.py`` enforces it).
"""
