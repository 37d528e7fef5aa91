"""Helpers the tests share: imported by tests and conftest.py, never from a test module."""
