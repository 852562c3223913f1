"""The one application error type that services raise.

The native API (`mlplatform.core.exception_handler`) and the Google-compatible facades
(`mlplatform.gcp.errors`) turn it into their own error bodies with the same HTTP status.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


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

    `field` names the offending input field, when there is one. `errors` holds every refusal of
    a request checked field by field (`Refusals`): the first one is this error's own.
    """

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode = ErrorCode.INVALID_ARGUMENT,
        field: str | None = None,
        errors: Sequence[ApplicationError] = (),
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.errors: tuple[ApplicationError, ...] = tuple(errors) or (self,)

    def __repr__(self) -> str:
        return f"ApplicationError({self.code.name}, {self.message!r}, field={self.field!r})"


class Refusals:
    """Runs a request's independent checks and raises all their refusals together, so that a form
    reports every bad field at once: `value = refusals.check(parse, raw)`, then `refusals.raise_any()`.
    """

    def __init__(self) -> None:
        self.errors: list[ApplicationError] = []

    def check(self, check: Callable[..., T], *args, default: T = None, **kwargs) -> T:
        """`check(*args, **kwargs)`, or `default` once its refusal is noted."""
        with self.noted():
            return check(*args, **kwargs)
        return default

    def refuse(self, message: str, *, field: str, code: ErrorCode = ErrorCode.INVALID_ARGUMENT) -> None:
        """Notes a refusal of `field`."""
        self.errors.append(ApplicationError(message, code=code, field=field))

    @contextmanager
    def noted(self) -> Iterator[None]:
        """Notes the ApplicationError of the block and carries on after it."""
        try:
            yield
        except ApplicationError as exc:
            self.errors.extend(exc.errors)

    def raise_any(self) -> None:
        """Raises the refusals noted so far as one ApplicationError (the first one's code)."""
        if self.errors:
            first = self.errors[0]
            raise ApplicationError(first.message, code=first.code, field=first.field, errors=self.errors)
