"""The certificate rockd serves, and the one SSL context its HTTPS listener uses.

Where it comes from, in order: the files named by `--tls-cert` and `--tls-key`; else (with
`--tls self-signed`) one uploaded through the API, kept under STATE_DIR/tls; else the
self-signed one rockd made there at its first start (and makes again when it is within 30
days of its end). An upload is loaded into the live context, so new handshakes present it
without a restart; one that fails any check leaves the old certificate served.
"""

from __future__ import annotations

import logging
import os
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rockd.config import Settings
from rockd.core.errors import Conflict, Unprocessable
from rockd.core.tree import Subtree
from rockd.tls.certs import (
    Pair,
    check,
    describe,
    host_addresses,
    host_names,
    load_chain,
    make_self_signed,
)

log = logging.getLogger(__name__)

PATH = "/system/tls"
RENEW_BEFORE = timedelta(days=30)
"""A self-signed certificate this close to its end is made anew at start."""


class CertificateError(RuntimeError):
    """The certificate rockd was told to serve at start cannot be served."""


def server_context() -> ssl.SSLContext:
    """A server context: TLS 1.2 and later, Python's default ciphers."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a file only root can read (0600 from its creation)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


class Certificates:
    """The served certificate: chosen at start, replaced by upload, published at /system/tls."""

    def __init__(self, settings: Settings, subtree: Subtree):
        self.settings = settings
        self.subtree = subtree
        self.folder = settings.state_dir / "tls"
        self.source: str | None = None  # "files", "uploaded", "self-signed"; None: plain HTTP
        self.context: ssl.SSLContext | None = None
        self.info: dict[str, Any] = {"enabled": False}

    def _files(self, name: str) -> tuple[Path, Path]:
        return self.folder / f"{name}.crt", self.folder / f"{name}.key"

    def open(self) -> ssl.SSLContext | None:
        """The SSL context to serve with (None: plain HTTP), its certificate chosen as the
        module says."""
        settings = self.settings
        if settings.tls_cert is not None and settings.tls_key is not None:
            files, self.source = (settings.tls_cert, settings.tls_key), "files"
        elif settings.tls == "self-signed":
            self.folder.mkdir(mode=0o700, exist_ok=True)
            files, self.source = self._kept()
        else:
            return None
        self.context = server_context()
        try:
            self.context.load_cert_chain(*files)
        except (OSError, ssl.SSLError) as exc:
            raise CertificateError(f"cannot serve the certificate {files[0]} with the key "
                               f"{files[1]}: {exc}") from None
        self.info = self._describe(files[0])
        return self.context

    def publish(self) -> None:
        """/system/tls: whether rockd serves HTTPS, and its certificate's facts."""
        self.subtree.set(PATH, self.info)

    def _describe(self, cert: Path) -> dict[str, Any]:
        return {"enabled": True, "source": self.source,
                **describe(load_chain(cert.read_bytes()))}

    def _kept(self) -> tuple[tuple[Path, Path], str]:
        """The uploaded certificate if there is one that loads, else the self-signed one,
        made when it is missing, unreadable or near its end."""
        uploaded = self._files("uploaded")
        if all(p.exists() for p in uploaded):
            if _loads(*uploaded):
                return uploaded, "uploaded"
            log.warning("the uploaded certificate in %s no longer loads; serving the "
                        "self-signed one", self.folder)
        made = self._files("self-signed")
        if not (all(p.exists() for p in made) and _loads(*made) and _lasts(made[0])):
            pair = make_self_signed(host_names(), host_addresses())
            write_private(made[1], pair.key)
            made[0].write_bytes(pair.chain)
            log.info("made a self-signed certificate for %s in %s",
                     ", ".join(host_names()), made[0])
        return made, "self-signed"

    def replace(self, pair: Pair) -> dict[str, Any]:
        """Serve `pair` from the next handshake on and keep it for the next start, if it
        passes every check; else answer why, in words, and serve the old one still."""
        if self.context is None:
            raise Unprocessable("rockd serves plain HTTP; start it with --tls self-signed to "
                                "serve HTTPS, then upload a certificate", code="tls_off")
        if self.source == "files":
            raise Conflict(f"rockd serves the certificate named by --tls-cert "
                           f"({self.settings.tls_cert}); replace that file and restart rockd",
                           code="tls_from_files")
        check(pair)
        cert, key = self._files("uploaded")
        new_cert, new_key = cert.with_suffix(".crt.new"), key.with_suffix(".key.new")
        new_cert.write_bytes(pair.chain.strip() + b"\n")
        write_private(new_key, pair.key)
        try:
            server_context().load_cert_chain(new_cert, new_key)
        except ssl.SSLError as exc:
            new_cert.unlink()
            new_key.unlink()
            raise Unprocessable(f"OpenSSL refuses the certificate: {exc.reason or exc}",
                                code="invalid_certificate", detail={"field": "cert"}) from None
        self.context.load_cert_chain(new_cert, new_key)
        new_key.replace(key)
        new_cert.replace(cert)
        self.source = "uploaded"
        self.info = self._describe(cert)
        self.publish()
        log.info("serving the uploaded certificate for %s", ", ".join(self.info["names"]))
        return self.info


def _loads(cert: Path, key: Path) -> bool:
    try:
        server_context().load_cert_chain(cert, key)
    except (OSError, ssl.SSLError):
        return False
    return True


def _lasts(cert: Path) -> bool:
    """Whether the certificate is valid for more than RENEW_BEFORE from now."""
    leaf = load_chain(cert.read_bytes())[0]
    return leaf.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE
