"""Every error leaves as JSON ``{"error": {"code", "message", "details"}}`` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from mdm.errors import DomainError, is_transient_conflict

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: Any = None) -> tuple[Any, int]:
    return jsonify({"error": {"code": code, "message": message, "details": details or {}}}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> tuple[Any, int]:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> tuple[Any, int]:
        return error_response(422, "invalid_input", "the request body is invalid", {"fields": exc.messages})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Any, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name or "error")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Any, int]:
        if is_transient_conflict(exc):
            log.warning("request rolled back by a transient database conflict: %s", exc)
            body, status = error_response(503, "conflict_retry", "a concurrent change conflicted with this request; "
                                          "nothing was stored, retry it", {"retry_after_seconds": 1})
            body.headers["Retry-After"] = "1"
            return body, status
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
