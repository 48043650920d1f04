"""Typed errors that map to the API's status codes and its error shape."""

from __future__ import annotations

from typing import Any


class RockdError(Exception):
    """An error a client caused or must know of: `{"error": {code, message, detail}}`."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None,
                 detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "detail": self.detail}}


class BadRequest(RockdError):
    status, code = 400, "bad_request"


class InvalidName(BadRequest):
    code = "invalid_name"


class Unauthorized(RockdError):
    status, code = 401, "unauthorized"


class Forbidden(RockdError):
    status, code = 403, "forbidden"


class NotFound(RockdError):
    status, code = 404, "not_found"


class MethodNotAllowed(RockdError):
    status, code = 405, "method_not_allowed"


class Conflict(RockdError):
    status, code = 409, "conflict"


class PayloadTooLarge(RockdError):
    status, code = 413, "payload_too_large"


class Unprocessable(RockdError):
    status, code = 422, "unprocessable"


class TooManyRequests(RockdError):
    status, code = 429, "too_many_requests"
