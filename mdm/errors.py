"""Domain errors. ``api/`` maps each to a status code and the contract's JSON error shape."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a machine-readable ``code``, a human ``message`` and structured ``details``."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}
        if code:
            self.code = code

    @property
    def reason(self) -> Any:
        """What to report per record: the per-field problems when there are any, else the message."""
        if isinstance(self.details, dict) and "fields" in self.details:
            return self.details["fields"]
        return self.message


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


#: PostgreSQL SQLSTATEs of conflicts that succeed when simply retried: deadlock detected,
#: serialization failure, lock not available
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def is_transient_conflict(exc: BaseException) -> bool:
    """A database conflict with a concurrent transaction that a retry resolves (PostgreSQL broke
    a deadlock between, say, a steward's merge and a resolve job): the caller should retry, not
    see a server error."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in _TRANSIENT_SQLSTATES
