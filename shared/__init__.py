"""Common library imported by every function: settings, Redis, broker, HTTP adapter."""
