"""Writing a small file whole: readers see the old text or the new, never half of either."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace `path` with `text`: a temporary file beside it, made with `mode` from the start
    (a secret is never readable by others, even for a moment), synced, renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.rockd")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(temp, mode)  # the umask may have taken bits away
    os.replace(temp, path)
