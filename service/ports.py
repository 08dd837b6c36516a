"""Listen addresses checked before `serve` takes them.

gRPC listens with SO_REUSEPORT so that the workers of one `serve` share a port; the price is
that a second `serve` on the same port would join the first without an error and answer some
of its connections, perhaps from another store. So `serve` first binds a probe socket without
SO_REUSEPORT: that bind fails while anything listens on the port, and nothing else is
refused. The workers, forked after the check, still share the port.
"""

from __future__ import annotations

import errno
import socket

from service.settings import SettingsError


class PortInUseError(SettingsError):
    """Another process listens on the address `serve` was given."""


def split_listen(listen: str) -> tuple[str, int]:
    """`host:port` (IPv6 hosts in brackets) → (host, port)."""
    host, _, port = listen.rpartition(":")
    try:
        number = int(port)
    except ValueError as exc:
        raise SettingsError(f"{listen!r} is not host:port") from exc
    if not 0 <= number <= 65535:
        raise SettingsError(f"{listen!r}: the port must be 0 to 65535")
    return host.strip("[]"), number


def ensure_free(listen: str, setting: str) -> None:
    """Returns when nothing listens on `listen`; PortInUseError naming `setting` otherwise.
    Port 0 (any free port) is always free."""
    host, port = split_listen(listen)
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise SettingsError(f"{setting} {listen}: {exc.strerror}") from exc
    for family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            # SO_REUSEADDR (as gRPC sets it) passes over connections of an earlier run still in
            # TIME_WAIT; only a listening socket makes this bind fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise SettingsError(f"{setting} {listen}: {exc.strerror}") from exc
                raise PortInUseError(
                    f"{listen} is already in use by another process: stop it, or give "
                    f"{setting} another port"
                ) from exc
