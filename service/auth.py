"""Who may call, as what, and how fast.

Callers are declared in a TOML file (`callers_file`), one table per agency system:

    [callers.de-customs-atlas]
    roles = ["screen"]
    certificate_names = ["atlas.zoll.example"]      # CN or DNS SAN of its client certificate
    api_key_sha256 = ["9f86d081884c7d65…"]           # `preflight apikey` prints key and hash
    rate_per_s = 2000                                # items per second (a batch item counts)
    burst = 4000
    agency = "de-zoll"                               # whose outcomes it shares (default: NAME)

A caller is identified by its verified client certificate (mTLS: `tls_client_ca_file` set,
and then every caller must present one) or, where agencies have no client PKI, by an API key
sent as `x-api-key` metadata over server-authenticated TLS; keys are stored only as SHA-256
digests. Roles: `screen`
(ScreeningService, OutcomeService), `ingest` (IncidentService), `admin` (IndexService
rebuilds, reflection; every agency's outcomes). Callers of one `agency` share the outcomes
they record: a false match one of them records stops raising the stoplights of all of them.
Health checks are open to everyone (load balancers probe them); unknown methods need `admin`.
With no callers file the service is open (development only): everyone is `anonymous` with
every role, still rate limited.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from service.auth_failures import AuthFailureLimits
from service.errors import (
    AuthThrottledError,
    PermissionDeniedError,
    QuotaExceededError,
    UnauthenticatedError,
)
from service.rate_limits import BucketSpec, TokenBuckets

API_KEY_HEADER = "x-api-key"
ANONYMOUS = "anonymous"


class Role(StrEnum):
    SCREEN = "screen"
    INGEST = "ingest"
    ADMIN = "admin"


PUBLIC = "public"  # no identity needed
AUTHENTICATED = "authenticated"  # any known caller
Access = Role | str | frozenset[Role]  # a role, PUBLIC / AUTHENTICATED, or any of roles
_METHOD_ACCESS: tuple[tuple[str, Access], ...] = (
    ("/grpc.health.v1.Health/", PUBLIC),
    ("/preflight.v1.ScreeningService/", Role.SCREEN),
    # an agency's systems record and list its outcomes; admins list every agency's
    ("/preflight.v1.OutcomeService/ListOutcomes", frozenset({Role.SCREEN, Role.ADMIN})),
    ("/preflight.v1.OutcomeService/", Role.SCREEN),
    ("/preflight.v1.IncidentService/", Role.INGEST),
    ("/preflight.v1.IndexService/GetIndexStatus", AUTHENTICATED),
    ("/preflight.v1.IndexService/", Role.ADMIN),
)


def required_access(method: str) -> Access:
    """What calling `method` takes; anything unlisted (reflection included) needs admin."""
    for prefix, access in _METHOD_ACCESS:
        if method.startswith(prefix):
            return access
    return Role.ADMIN


class CallersError(ValueError):
    """A callers file that cannot be used, named."""


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    roles: frozenset[Role]
    rate_per_s: float
    burst: float
    agency: str = ""  # empty = the caller's own name

    @property
    def agency_name(self) -> str:
        return self.agency or self.name


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Identity:
    certificate_names: Sequence[str]  # from the verified client certificate, if any
    api_key: str  # as sent, "" if none
    address: str = ""  # the peer's network address (no port), for failure limits


class AccessControl:
    """Identifies callers, checks roles and applies each caller's token bucket. Made before
    the workers are forked, it is one set of buckets for all of them."""

    def __init__(self, callers: Sequence[Caller], certificate_names: Mapping[str, str],
                 key_hashes: Mapping[str, str], *, open_access: bool,
                 default_rate_per_s: float, default_burst: float,
                 failure_limits: AuthFailureLimits | None = None) -> None:  # fmt: skip
        """`failure_limits`: how many failed authentications a peer address may make (none =
        no limit)."""
        self._failure_limits = failure_limits
        self._callers = {c.name: c for c in callers}
        self._by_certificate = dict(certificate_names)
        self._by_key_hash = dict(key_hashes)
        self.open_access = open_access
        if open_access:
            self._callers[ANONYMOUS] = Caller(
                ANONYMOUS, frozenset(Role), default_rate_per_s, default_burst
            )
        self._buckets = TokenBuckets(
            {name: BucketSpec(c.rate_per_s, c.burst) for name, c in self._callers.items()}
        )

    @property
    def caller_names(self) -> list[str]:
        return sorted(self._callers)

    def callers_of(self, agency: str) -> frozenset[str]:
        """The names of the callers that belong to `agency`."""
        return frozenset(c.name for c in self._callers.values() if c.agency_name == agency)

    def identify(self, identity: Identity) -> Caller | None:
        """The caller a verified certificate names, else the one an API key belongs to."""
        for certificate_name in identity.certificate_names:
            name = self._by_certificate.get(certificate_name)
            if name:
                return self._callers[name]
        if identity.api_key:
            name = self._by_key_hash.get(hash_api_key(identity.api_key))
            return self._callers[name] if name else None
        return self._callers.get(ANONYMOUS) if self.open_access else None

    def admit(self, method: str, identity: Identity, cost: int) -> Caller | None:
        """The caller `identity` proves, when it may call `method` now (None for a public
        method); raises UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED otherwise. A
        peer address that failed to authenticate too often is refused before its credentials
        are looked at."""
        if required_access(method) == PUBLIC:
            return None
        limits = self._failure_limits
        if limits is not None:
            wait_s = limits.wait_s(identity.address)
            if wait_s:
                raise AuthThrottledError(
                    f"peer:{identity.address}",
                    "too many failed authentications from this address",
                    wait_s,
                )
        caller = self.identify(identity)
        if caller is None and limits is not None:
            limits.record_failure(identity.address)
        self.authorize(method, caller, cost)
        return caller

    def authorize(self, method: str, caller: Caller | None, cost: int) -> None:
        """Returns when `caller` may call `method` now; raises UNAUTHENTICATED,
        PERMISSION_DENIED or RESOURCE_EXHAUSTED otherwise."""
        access = required_access(method)
        if access == PUBLIC:
            return
        if caller is None:
            raise UnauthenticatedError(
                "no valid client certificate or API key: this service serves vetted agencies only"
            )
        if isinstance(access, Role) and access not in caller.roles:
            raise PermissionDeniedError(f"caller {caller.name} lacks the {access.value} role")
        if isinstance(access, frozenset) and not access & caller.roles:
            roles = " or ".join(sorted(r.value for r in access))
            raise PermissionDeniedError(f"caller {caller.name} lacks the {roles} role")
        wait_s = self._buckets.take(caller.name, max(cost, 1))
        if wait_s:
            description = (
                f"at most {caller.burst:.0f} items per request"
                if math.isinf(wait_s)
                else f"rate limit of {caller.rate_per_s:g} items/s exceeded"
            )
            raise QuotaExceededError(f"caller:{caller.name}", description,
                                     0.0 if math.isinf(wait_s) else wait_s)  # fmt: skip


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CallersError(f"{where} must be a list of non-empty strings")
    return list(value)


def load_access(
    path: str,
    default_rate_per_s: float,
    default_burst: float,
    failure_limits: AuthFailureLimits | None = None,
) -> AccessControl:
    """The access rules from a callers file; an empty path = open (development) access."""
    if not path:
        return AccessControl(
            [], {}, {}, open_access=True,
            default_rate_per_s=default_rate_per_s, default_burst=default_burst,
        )  # fmt: skip
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CallersError(f"callers file {path}: {exc}") from exc
    table = data.get("callers")
    if not isinstance(table, dict) or not table:
        raise CallersError(f"callers file {path}: no [callers.NAME] tables")
    callers: list[Caller] = []
    by_certificate: dict[str, str] = {}
    by_key: dict[str, str] = {}
    for name, entry in table.items():
        where = f"callers file {path}: callers.{name}"
        if not isinstance(entry, dict):
            raise CallersError(f"{where} must be a table")
        unknown = set(entry) - {"roles", "certificate_names", "api_key_sha256", "rate_per_s",
                                "burst", "agency"}  # fmt: skip
        if unknown:
            raise CallersError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        try:
            roles = frozenset(Role(r) for r in _strings(entry.get("roles", []), f"{where}.roles"))
        except ValueError as exc:
            raise CallersError(f"{where}.roles: {exc}; use screen, ingest or admin") from exc
        for certificate_name in _strings(entry.get("certificate_names", []), where):
            by_certificate[certificate_name] = name
        for digest in _strings(entry.get("api_key_sha256", []), where):
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise CallersError(f"{where}.api_key_sha256: not a hex SHA-256 digest")
            by_key[digest] = name
        rate = float(entry.get("rate_per_s", default_rate_per_s))
        burst = float(entry.get("burst", max(default_burst, rate)))
        if rate <= 0 or burst < 1:
            raise CallersError(f"{where}: rate_per_s must be > 0 and burst >= 1")
        agency = entry.get("agency", "")
        if not isinstance(agency, str):
            raise CallersError(f"{where}.agency must be a string")
        callers.append(Caller(name, roles, rate, burst, agency))
    return AccessControl(
        callers, by_certificate, by_key, open_access=False,
        default_rate_per_s=default_rate_per_s, default_burst=default_burst,
        failure_limits=failure_limits,
    )  # fmt: skip


def _toml_key(name: str) -> str:
    """`name` as a TOML key: bare when it can be, quoted otherwise."""
    bare = name and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    return name if bare else json.dumps(name)


def _toml_strings(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def callers_entry(
    name: str,
    roles: Sequence[Role],
    *,
    certificate_names: Sequence[str] = (),
    api_key_sha256: Sequence[str] = (),
) -> str:
    """A complete callers-file table for one caller, as `load_access` reads it."""
    lines = [f"[callers.{_toml_key(name)}]", f"roles = {_toml_strings([r.value for r in roles])}"]
    if certificate_names:
        lines.append(f"certificate_names = {_toml_strings(certificate_names)}")
    if api_key_sha256:
        lines.append(f"api_key_sha256 = {_toml_strings(api_key_sha256)}")
    return "\n".join(lines) + "\n"
