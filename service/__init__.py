"""Preflight's I/O edge: settings, stores, refresh, gRPC and the CLI (built by the serving issue).

It converts, stores, serves and measures; matching logic stays in `index`.
"""
