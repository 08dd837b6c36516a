"""Incident stores: one protocol (`base`), an embedded SQLite store and a Redis store."""
