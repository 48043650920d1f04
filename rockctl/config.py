"""Where rockctl finds its rockd and token: options, then the environment, then the file.

The file is TOML (`~/.config/rockctl/config.toml`, or `$ROCKCTL_CONFIG`):

    url = "http://nas.example:8470"
    token = "..."
    ca = "/etc/rockctl/rockd.pem"   # optional: the certificate to trust for https

A file that holds a token must be readable by its owner only (mode 0600), as ssh asks of a key.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8470"


class ConfigError(Exception):
    """The configuration cannot be used; the message says why, in words."""


@dataclass(frozen=True)
class Config:
    """The address of rockd, the API token (never printed) and the CA file for https."""

    url: str
    token: str | None = None
    ca: str | None = None

    def __repr__(self) -> str:
        return f"Config(url={self.url!r}, token={'set' if self.token else None}, ca={self.ca!r})"


def config_path() -> Path:
    """The configuration file: $ROCKCTL_CONFIG, else under $XDG_CONFIG_HOME or ~/.config."""
    given = os.environ.get("ROCKCTL_CONFIG")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rockctl" / "config.toml"


def read_file(path: Path, required: bool) -> dict[str, str]:
    """The file's settings; {} when it does not exist and was not named explicitly."""
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        if required:
            raise ConfigError(f"the configuration file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"the configuration file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"url", "token", "ca"})
    if unknown:
        raise ConfigError(f"the configuration file {path} has unknown settings: "
                          f"{', '.join(unknown)} (known: url, token, ca)")
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(f"{key} in the configuration file {path} must be a string")
    if "token" in data and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the configuration file {path} holds a token but other users can read it "
            f"(mode {stat.S_IMODE(mode):04o}); refusing to use it. "
            f"Make it private with: chmod 600 {path}")
    return data


def load(url: str | None = None, token: str | None = None, ca: str | None = None,
         file_needed: bool = True) -> Config:
    """The configuration: each of url, token and ca from the option if given, else the
    environment (ROCKCTL_URL, ROCKCTL_TOKEN, ROCKCTL_CA), else the file (which must exist if
    $ROCKCTL_CONFIG names it, unless not `file_needed`)."""
    path = config_path()
    data = read_file(path, required=file_needed and "ROCKCTL_CONFIG" in os.environ)
    env = os.environ
    chosen_url = url or env.get("ROCKCTL_URL") or data.get("url") or DEFAULT_URL
    if not chosen_url.startswith(("http://", "https://")):
        raise ConfigError(f"the url {chosen_url!r} must start with http:// or https://")
    return Config(url=chosen_url.rstrip("/"),
                  token=token or env.get("ROCKCTL_TOKEN") or data.get("token"),
                  ca=ca or env.get("ROCKCTL_CA") or data.get("ca"))


def save(config: Config) -> Path:
    """Write `config` to the configuration file, readable by its owner only; its path."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = [f"{key} = {_toml_string(value)}" for key, value in
             (("url", config.url), ("token", config.token), ("ca", config.ca)) if value]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # a file that was there keeps its mode otherwise
        out.write("\n".join(lines) + "\n")
    return path


def _toml_string(value: str) -> str:
    """A TOML basic string (the JSON escapes are TOML's)."""
    return json.dumps(value)
