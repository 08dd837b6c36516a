"""How the `preflight` command fails: one line that says what went wrong and what to do next,
and an exit status per kind of failure (the traceback only with `preflight --debug`).

Exit statuses:
    0  screen: GREEN; manifest: every row GREEN
    1  screen: AMBER or RED; manifest: hits found
    2  bad input (a flag, a file, a setting, or a request the server called invalid)
    3  no verdict could be had: the server is unreachable or not ready (for a manifest: some
       rows were not screened)
    4  the server refused the call (authentication, role, rate) or failed
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

import click
import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from service.settings import SettingsError
from service.store.base import StoreError

EXIT_GREEN = 0
EXIT_HITS = 1
EXIT_BAD_INPUT = 2
EXIT_NO_VERDICT = 3
EXIT_REFUSED = 4
EXIT_INTERRUPTED = 130


class CommandFailed(click.ClickException):
    """A failure told in one line on stderr, with its exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"preflight: {self.format_message()}", err=True, file=file)


def field_violations(exc: grpc.RpcError) -> list[tuple[str, str]]:
    """The (field, description) pairs of an INVALID_ARGUMENT's BadRequest details."""
    status = rpc_status.from_call(exc)
    found: list[tuple[str, str]] = []
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found += [(v.field, v.description) for v in bad_request.field_violations]
    return found


def _flag_of(field: str, flags: Mapping[str, str]) -> str:
    """The flag a request field came from (`parties[0].country_code` → `--country`), or the
    field itself."""
    for pattern, flag in flags.items():
        if re.fullmatch(pattern, field):
            return flag
    return field


def rpc_failure(exc: grpc.RpcError, target: str, flags: Mapping[str, str]) -> CommandFailed:
    code, details = exc.code(), exc.details() or ""
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        violations = field_violations(exc)
        said = "; ".join(f"{_flag_of(f, flags)}: {d}" for f, d in violations) or details
        return CommandFailed(f"bad input: {said}", EXIT_BAD_INPUT)
    if code is grpc.StatusCode.UNAVAILABLE:
        if "index" in details:  # the server answered: it has no index to screen with yet
            return CommandFailed(f"the server at {target} is not ready: {details}",
                                 EXIT_NO_VERDICT)  # fmt: skip
        return CommandFailed(
            f"cannot reach a server at {target} ({details}): is `preflight serve` running "
            "there? (`make run` serves on 127.0.0.1:50051; give --target HOST:PORT)",
            EXIT_NO_VERDICT,
        )
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return CommandFailed(f"the server at {target} did not answer in time", EXIT_NO_VERDICT)
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return CommandFailed(
            f"the server at {target} does not know this caller ({details}): give --ca-file "
            "with --cert-file and --key-file, or --api-key",
            EXIT_REFUSED,
        )
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return CommandFailed(f"refused: {details}; ask the service's operator for the role",
                             EXIT_REFUSED)  # fmt: skip
    return CommandFailed(f"the server at {target} answered {code.name}: {details}", EXIT_REFUSED)


def explain(
    exc: Exception, target: str = "", flags: Mapping[str, str] | None = None
) -> CommandFailed:
    """`exc` as a one-line failure; `flags` maps request field patterns to the flags that
    filled them, so a bad field is named as the person typed it."""
    if isinstance(exc, CommandFailed):
        return exc
    if isinstance(exc, click.UsageError):  # a flag or an argument
        return CommandFailed(exc.format_message(), EXIT_BAD_INPUT)
    if isinstance(exc, click.ClickException):
        return CommandFailed(exc.format_message(), exc.exit_code)
    if isinstance(exc, grpc.RpcError):
        return rpc_failure(exc, target, flags or {})
    if isinstance(exc, SettingsError):
        return CommandFailed(str(exc), EXIT_BAD_INPUT)
    if isinstance(exc, StoreError):
        return CommandFailed(f"the incident store is unreachable: {exc}", EXIT_NO_VERDICT)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return CommandFailed(f"cannot use{where}: {exc.strerror or exc}", EXIT_BAD_INPUT)
    if isinstance(exc, ValueError):
        return CommandFailed(str(exc), EXIT_BAD_INPUT)
    return CommandFailed(
        f"{type(exc).__name__}: {exc} (run `preflight --debug …` for the traceback)",
        EXIT_REFUSED,
    )
