"""Dramatiq middleware of this service, one class per module."""
