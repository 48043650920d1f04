"""Validation errors in words (rockd/core/wording.py): no pydantic text, the field named."""

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from rockd.core.errors import BadRequest
from rockd.core.models import Model, Name, SizeRange, validate
from rockd.core.wording import size


class Inner(BaseModel):
    host: str = Field(max_length=4)


class Body(Model):
    name: Name
    quota: Annotated[int, SizeRange(1 << 20, 1 << 40)] | None = None
    kind: Literal["a", "b"] = "a"
    count: int = Field(default=1, ge=1, le=9)
    clients: list[Inner] = Field(default_factory=list)
    when: float = 0.0


@pytest.mark.parametrize(("body", "field", "message"), [
    ({}, "name", "Name is required"),
    ({"name": "x", "quota": 5}, "quota", "Quota must be at least 1 MiB"),
    ({"name": "x", "quota": (1 << 40) + 1}, "quota", "Quota must be at most 1 TiB"),
    ({"name": "x", "kind": "c"}, "kind", "Kind must be one of 'a' or 'b'"),
    ({"name": "x", "count": 0}, "count", "Count must be at least 1"),
    ({"name": "x", "count": "3"}, "count", "Count must be a whole number"),
    ({"name": "x", "clients": [{"host": "toolong"}]}, "clients.0.host",
     "Clients item 1 host must be at most 4 characters long"),
    ({"name": "x", "when": "soon"}, "when", "When must be a number"),
    ({"name": "x", "other": 1}, "other", "Other is not a field of this request"),
    ([], "", "The request body must be an object"),
])
def test_each_error_is_a_sentence_naming_its_field(body, field, message):
    with pytest.raises(BadRequest) as caught:
        validate(Body, body)
    assert (caught.value.detail["field"], caught.value.message) == (field, message)
    assert "Input should" not in str(caught.value.detail)


def test_sizes_read_in_binary_units():
    assert [size(n) for n in (512, 1 << 20, 1536 << 20, int(97.7 * (1 << 50)))] == [
        "512 bytes", "1 MiB", "1.5 GiB", "97.7 PiB"]
