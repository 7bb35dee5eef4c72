"""Errors of the web layer and how they become responses.

* :class:`UnauthenticatedError`: no valid session. HTML pages redirect to the login
  page; the API answers 401 with ``WWW-Authenticate: Bearer``.
* :class:`NotVisibleError`: the object does not exist *or* is outside the caller's
  scope, or the caller's role lacks the capability. Always 404, so a response
  never tells whether a record exists (no existence oracle); audited as denied.
* :class:`CsrfError`: a cookie-authenticated unsafe request without the
  session's CSRF token: 403 (this reveals nothing about objects).
* Bordin's own errors: :class:`~bordin.errors.InputError` 422 (field, allowed),
  :class:`~bordin.errors.NotFoundError` 404, :class:`~bordin.errors.ConflictError` 409.
* Anything else: 500 with a generic message and the request id, never a stack
  trace or a value (ASVS 16.5.1); the log line names only the exception class.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CsrfError", "NotVisibleError", "ThrottledError", "UnauthenticatedError", "WebError",
           "input_error_body"]


def input_error_body(*, field: str, message: str) -> dict[str, Any]:
    """A 422 body in FastAPI's own shape (``detail`` a list of located messages)."""
    return {"detail": [{"loc": ["body", str(field)], "msg": message, "type": "value_error"}]}


class WebError(Exception):
    """Root of the web layer's own errors."""


class UnauthenticatedError(WebError):
    """No valid session or token."""


class NotVisibleError(WebError):
    """Not found, out of scope, or not allowed: answered 404 and audited as denied."""

    def __init__(self, *, resource_type: str | None = None, resource_id: str | None = None,
                 reason: str = "not found") -> None:
        super().__init__(reason)
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.reason = reason


class CsrfError(WebError):
    """Missing or wrong CSRF token."""


class ThrottledError(WebError):
    """Too many attempts; try later."""
