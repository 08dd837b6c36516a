"""Errors of the service layer and the one place they become gRPC statuses.

ServiceError
├── NotFoundError          → NOT_FOUND
├── IndexNotReadyError     → UNAVAILABLE (no snapshot loaded yet: never a GREEN from nothing)
├── DeadlinePassedError    → DEADLINE_EXCEEDED (the call's deadline passed before its turn)
├── FailedPreconditionError → FAILED_PRECONDITION (the server is not set up for the call)
├── RequestTooLargeError   → INVALID_ARGUMENT
├── UnauthenticatedError   → UNAUTHENTICATED (no valid client certificate or API key)
├── PermissionDeniedError  → PERMISSION_DENIED (a known caller without the role)
└── QuotaExceededError     → RESOURCE_EXHAUSTED with google.rpc.QuotaFailure
    └── AuthThrottledError (a peer address that failed to authenticate too often)
index.errors.ValidationError → INVALID_ARGUMENT with google.rpc.BadRequest field violations
service.store.base.StoreError → UNAVAILABLE
"""

from __future__ import annotations

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2

from index.errors import FieldViolation, ValidationError
from service.store.base import StoreError


class ServiceError(Exception):
    code = grpc.StatusCode.INTERNAL


class NotFoundError(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class IndexNotReadyError(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlinePassedError(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class FailedPreconditionError(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class RequestTooLargeError(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"{field}: at most {limit} entries")
        self.violation = FieldViolation(field, f"at most {limit} entries")


class UnauthenticatedError(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class QuotaExceededError(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, subject: str, description: str, retry_after_s: float) -> None:
        super().__init__(f"{subject}: {description}")
        self.subject = subject
        self.description = description
        self.retry_after_s = retry_after_s


class AuthThrottledError(QuotaExceededError):
    """A peer address that failed to authenticate too often; its credentials go unchecked."""


def quota_failure(exc: QuotaExceededError) -> status_pb2.Status:
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=str(exc))
    status.details.add().Pack(
        error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=exc.subject, description=exc.description
                )
            ]
        )
    )
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromNanoseconds(int(exc.retry_after_s * 1e9))
    status.details.add().Pack(retry)
    return status


def bad_request(violations: tuple[FieldViolation, ...] | list[FieldViolation]) -> status_pb2.Status:
    details = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ]
    )
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message="; ".join(f"{v.field}: {v.description}" for v in violations)[:1000],
    )
    status.details.add().Pack(details)
    return status


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str, status_pb2.Status | None]:
    """The gRPC status an exception maps to: (code, message, rich status or None)."""
    if isinstance(exc, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(exc)[:1000], bad_request(exc.violations)
    if isinstance(exc, RequestTooLargeError):
        return exc.code, str(exc), bad_request([exc.violation])
    if isinstance(exc, QuotaExceededError):
        return exc.code, str(exc), quota_failure(exc)
    if isinstance(exc, ServiceError):
        return exc.code, str(exc), None
    if isinstance(exc, StoreError):
        return grpc.StatusCode.UNAVAILABLE, "incident store unavailable", None
    return grpc.StatusCode.INTERNAL, "internal error", None
