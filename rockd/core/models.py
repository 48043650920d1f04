"""The base of every request model, the name rule, and validation with the API's errors.

Request bodies are declared with these in the layer that owns the resource (an export kind's
fields in its own module), and handlers/routes.py builds routes and the OpenAPI document from
them: both may import this, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from rockd.core.errors import BadRequest, InvalidName
from rockd.core.names import NAME_PATTERN
from rockd.core.wording import sentence, size

NAME_RULE = ("must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
             "digit")


def _check_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise PydanticCustomError("invalid_name", NAME_RULE)
    return value


Name = Annotated[str, AfterValidator(_check_name),
                 WithJsonSchema({"type": "string", "pattern": NAME_PATTERN.pattern})]
"""A pool, share, snapshot, user or token name; anything else is 400 invalid_name."""


@dataclass(frozen=True)
class SizeRange:
    """Annotated metadata for a size in bytes from `minimum` to `maximum`, refused in binary
    units' words ("must be at least 1 MiB"), not as a count of bytes:
    `Annotated[int, SizeRange(1 << 20, 1 << 60)]`."""

    minimum: int
    maximum: int

    def check(self, value: int) -> int:
        if value < self.minimum:
            raise PydanticCustomError("size_too_small", "must be at least {size}",
                                      {"size": size(self.minimum)})
        if value > self.maximum:
            raise PydanticCustomError("size_too_large", "must be at most {size}",
                                      {"size": size(self.maximum)})
        return value

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        shown = handler(schema)
        shown.update(minimum=self.minimum, maximum=self.maximum)
        return shown


class Model(BaseModel):
    """Base of request bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any) -> M:
    """`data` as `model`, or 400: invalid_name where a name is wrong, else invalid_field. The
    message says the first problem in words; `detail.field` names its field (dotted path)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": sentence(e), "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        named = [e for e in errors if e["type"] == "invalid_name"]
        first = (named or errors)[0]
        detail = {"field": first["field"], "errors": errors}
        if named:
            raise InvalidName(first["problem"], detail=detail) from None
        raise BadRequest(first["problem"], code="invalid_field", detail=detail) from None
