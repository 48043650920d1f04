"""The field types that the resources share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Time = Annotated[str, Field(description="RFC 3339, UTC")]
Id = str
