"""The ``borne`` command line: one entry point over the kiosk, collector and provisioning packages."""

__version__ = "0.1.0"
