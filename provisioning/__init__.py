"""Technicians' tools: registering a kiosk with the collector and writing what goes on its SD card."""
