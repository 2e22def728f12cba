"""Builders and real services for the tests."""
