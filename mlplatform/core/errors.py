"""The one application error type that services raise.

The native API (`mlplatform.core.exception_handler`) and the Google-compatible facades
(`mlplatform.gcp.errors`) turn it into their own error bodies with the same HTTP status.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    """Google's canonical codes (google.rpc.Code), each with the HTTP status it maps to."""

    CANCELLED = (1, 499)
    INVALID_ARGUMENT = (3, 400)
    NOT_FOUND = (5, 404)
    ALREADY_EXISTS = (6, 409)
    PERMISSION_DENIED = (7, 403)
    RESOURCE_EXHAUSTED = (8, 429)
    FAILED_PRECONDITION = (9, 400)
    ABORTED = (10, 409)
    OUT_OF_RANGE = (11, 400)
    UNIMPLEMENTED = (12, 501)
    INTERNAL = (13, 500)
    UNAVAILABLE = (14, 503)
    UNAUTHENTICATED = (16, 401)
    # Not a google.rpc code of its own (Google answers INVALID_ARGUMENT); the native API says 413.
    REQUEST_TOO_LARGE = (3, 413)

    def __init__(self, rpc_code: int, http_status: int):
        self.rpc_code = rpc_code
        self.http_status = http_status

    @property
    def rpc_status(self) -> str:
        """google.rpc.Code's name for it (REQUEST_TOO_LARGE is INVALID_ARGUMENT there)."""
        return next(code.name for code in ErrorCode if code.rpc_code == self.rpc_code)


class ApplicationError(Exception):
    """A request the platform refuses, with a message a user can act on.

    `field` names the offending input field, when there is one.
    """

    def __init__(
        self, message: str, *, code: ErrorCode = ErrorCode.INVALID_ARGUMENT, field: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field

    def __repr__(self) -> str:
        return f"ApplicationError({self.code.name}, {self.message!r}, field={self.field!r})"
