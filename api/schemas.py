"""Request envelopes (marshmallow). Canonical field validation is domain logic: ``mdm.canonical``."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import request
from marshmallow import RAISE, Schema, ValidationError, validate, validates_schema
from marshmallow import fields as f

from mdm.canonical import nul_paths, parse_json
from mdm.errors import BadRequest, InvalidInput

SOURCE_ID = validate.Regexp(r"^[^\x00-\x1f\x7f]{1,255}$", error="1 to 255 characters, no control characters.")


class RecordChangeSchema(Schema):
    """Body of ``PUT …/records/{source_id}``."""

    class Meta:
        unknown = RAISE

    fields = f.Dict(keys=f.String(), load_default=dict)
    updated_at = f.AwareDateTime(required=True, default_timezone=UTC)
    deleted = f.Boolean(load_default=False)
    object = f.String(load_default=None, allow_none=True, validate=validate.Length(max=64))

    @validates_schema
    def _fields_unless_deleted(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("deleted") and not data.get("fields"):
            raise ValidationError("fields are required unless deleted is true", field_name="fields")


class BatchRecordSchema(RecordChangeSchema):
    source_id = f.String(required=True, validate=SOURCE_ID)


class BatchSchema(Schema):
    class Meta:
        unknown = RAISE

    records = f.List(f.Nested(BatchRecordSchema), required=True, validate=validate.Length(min=1))


class SourceSchema(Schema):
    class Meta:
        unknown = RAISE

    name = f.String(required=True)
    kind = f.String(required=True)
    description = f.String(load_default="")


def json_body() -> Any:
    """Parse the body as JSON ourselves, so malformed JSON is a clear 400, not an HTML page."""
    raw = request.get_data(cache=False)
    if not raw:
        raise InvalidInput("the request body is empty; send a JSON object", code="empty_body")
    try:
        body = parse_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from exc
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object", code="not_an_object")
    nul = nul_paths(body)
    if nul:
        # PostgreSQL cannot store U+0000 in text or JSONB: refuse it here for every endpoint
        raise InvalidInput(
            "NUL characters (\\u0000) are not allowed",
            details={"fields": {p: ["contains a NUL character"] for p in nul}},
            code="nul_character",
        )
    return body


def check_source_id(source_id: str) -> str:
    try:
        SOURCE_ID(source_id)
    except ValidationError as exc:
        raise InvalidInput("invalid source_id", details={"source_id": exc.messages}) from exc
    return source_id
