"""Failed authentications, limited per peer address.

Each failed authentication (no credential, or one of no known caller) costs the peer's
address a token; once its bucket is empty, its calls are refused (RESOURCE_EXHAUSTED with the
time to wait) before their credentials are even looked at, so guessing API keys runs at
`rate_per_s` however fast the guesses come. Callers that authenticate cost nothing.

Addresses are hashed onto a fixed number of buckets made before the workers are forked, so the
limit holds across every worker (an attacker's connections land on all of them) and memory
stays bounded however many addresses call. Two addresses on one bucket share its limit.
"""

from __future__ import annotations

import hashlib

from service.rate_limits import BucketSpec, TokenBuckets

PEER_BUCKETS = 4096


def peer_address(peer: str) -> str:
    """The address of a gRPC peer string without its port: `ipv4:10.0.0.7:53412` →
    `10.0.0.7`, `ipv6:[::1]:53412` → `::1`; anything else as it is."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6") and rest:
        return rest.rpartition(":")[0].strip("[]")
    return peer


class AuthFailureLimits:
    def __init__(self, rate_per_s: float, burst: float) -> None:
        spec = BucketSpec(rate_per_s, burst)
        self._buckets = TokenBuckets({str(n): spec for n in range(PEER_BUCKETS)})

    @staticmethod
    def _bucket(address: str) -> str:
        digest = hashlib.blake2b(address.encode(), digest_size=8).digest()
        return str(int.from_bytes(digest) % PEER_BUCKETS)

    def wait_s(self, address: str) -> float:
        """0 while `address` may still try to authenticate; else the seconds until it may."""
        return self._buckets.wait_s(self._bucket(address), 1.0)

    def record_failure(self, address: str) -> None:
        self._buckets.take(self._bucket(address), 1.0)
