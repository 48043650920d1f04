"""What a valid name is: pools, shares, snapshots, users and tokens all follow one rule."""

import re

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.fullmatch(name))
