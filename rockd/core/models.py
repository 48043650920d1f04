"""The base of every request model, the name rule, and validation with the API's errors.

Request bodies are declared with these in the layer that owns the resource (an export kind's
fields in its own module), and handlers/routes.py builds routes and the OpenAPI document from
them: both may import this, so neither imports the other.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, WithJsonSchema
from pydantic_core import PydanticCustomError

from rockd.core.errors import BadRequest, InvalidName
from rockd.core.names import NAME_PATTERN


def _check_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise PydanticCustomError("invalid_name", "must match {pattern}",
                                  {"pattern": NAME_PATTERN.pattern})
    return value


Name = Annotated[str, AfterValidator(_check_name),
                 WithJsonSchema({"type": "string", "pattern": NAME_PATTERN.pattern})]
"""A pool, share, snapshot, user or token name; anything else is 400 invalid_name."""


class Model(BaseModel):
    """Base of request bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`, or 400: invalid_name where a name is wrong, else invalid_field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0]
        message = f"{first['field'] or 'body'}: {first['problem']}"
        if any(e["type"] == "invalid_name" for e in errors):
            raise InvalidName(message, detail={"errors": errors}) from None
        raise BadRequest(message, code="invalid_field", detail={"errors": errors}) from None
