"""Set-ups that look secure but are not, refused before a server starts.

- TLS with no `audit_key`: the audit trail's party digests would be keyed with the
  development key, which is in the source, so anyone could test a name against them.
- A callers file on a plaintext server: API keys are only accepted over TLS and client
  certificates need mTLS, so every caller would be locked out without a word.
"""

from __future__ import annotations

from service.auth import AccessControl
from service.settings import Settings, SettingsError

MIN_AUDIT_KEY_BYTES = 16


def check_serving_setup(settings: Settings, access: AccessControl) -> None:
    """Returns when `settings` (and the callers `access` was loaded from) can be served as
    they say; SettingsError naming what to change otherwise."""
    tls = bool(settings.tls_cert_file)
    if tls and settings.audit and len(bytes.fromhex(settings.audit_key)) < MIN_AUDIT_KEY_BYTES:
        raise SettingsError(
            "TLS is on but audit_key is "
            + ("not set" if not settings.audit_key else "shorter than 32 hex digits")
            + ": the audit trail's party digests would be keyed with a key anyone can read; "
            "set PREFLIGHT_AUDIT_KEY to a secret of 32 or more hex digits "
            "(e.g. `openssl rand -hex 32`)"
        )
    if not tls and not access.open_access:
        raise SettingsError(
            "a callers file on a plaintext server locks every caller out (API keys are only "
            "accepted over TLS, client certificates need mTLS): configure tls_cert_file and "
            "tls_key_file, or drop callers_file for local development"
        )
