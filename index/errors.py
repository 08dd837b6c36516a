"""Errors of the screening core.

    CoreError
    ├── ValidationError (also ValueError)  — a request or incident broke the contract;
    │                                        carries one FieldViolation per offending field
    └── PolicyError (also ValueError)      — a scoring policy file is malformed

Callers may catch either the core's own base or the builtin.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One offending field, named by its path in the request (`parties[1].country_code`)."""

    field: str
    description: str


class CoreError(Exception):
    """Base of every error the screening core raises."""


class ValidationError(CoreError, ValueError):
    """Input that breaks the contract; lists every offending field, not just the first."""

    def __init__(self, violations: list[FieldViolation] | tuple[FieldViolation, ...]) -> None:
        if not violations:
            raise ValueError("a ValidationError needs at least one violation")
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class PolicyError(CoreError, ValueError):
    """A scoring policy that cannot be used."""
