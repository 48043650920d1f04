"""Where the apps' images come from: the registry setting, images already on this box, an image
file loaded into the engine, and the demo's image made from this machine's BusyBox.

- The registry setting (`--apps-registry`, or PUT /apps/registry) is a mirror of Docker Hub: an
  image that names no registry of its own (`busybox`, `syncthing/syncthing`) is pulled from
  there, Docker Hub's official images under `library/` as Docker Hub names them
  (`busybox` -> `REGISTRY/library/busybox`). An image that names its registry is left as is.
- An image already on this box is used as it is: catalog tags are fixed versions, so an image
  loaded from a file, or made by the demo, is what installs, with no registry asked.
- The demo makes `busybox:<tag>` for each catalog app that runs only Docker Hub's busybox,
  from the machine's own statically linked BusyBox (a `docker import` of a tiny root), so that
  those apps install and serve on a box with no registry at all.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import re
import secrets
import tarfile
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import aiohttp

from rockd.apps.definitions import Definition
from rockd.apps.engine import Engine, EngineError
from rockd.core.errors import BadRequest, PayloadTooLarge

log = logging.getLogger(__name__)

REGISTRY = (r"^(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?"
            r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*){0,4}$")
BUSYBOX = Path("/bin/busybox")
BUSYBOX_IMAGE = "busybox"
APPLETS = ("sh", "httpd", "wget", "sleep", "cat", "ls", "echo", "true", "env", "nc", "ps")
PROBE_SECONDS = 5.0
UPLOADS = "uploads"  # in the state dir: image files until the engine has loaded them
TAR_MAGIC_AT = 257  # a POSIX (ustar) or GNU tar header's magic


def names_registry(image: str) -> bool:
    """Whether an image reference starts with a registry (a host with a dot or a port, or
    localhost), as the Docker engine reads it."""
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def resolve(image: str, registry: str | None) -> str:
    """The reference the engine pulls and runs for a definition's image."""
    if not registry or names_registry(image):
        return image
    return f"{registry}/{image if '/' in image else 'library/' + image}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def registry_problem(registry: str) -> str | None:
    """Why `registry` cannot serve images, in words; None when its /v2/ answers as a
    registry (over HTTPS, or over HTTP on this box's loopback, as the engine would)."""
    host = registry.split("/", 1)[0]
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    schemes = ["https", "http"] if _loopback(hostname) else ["https"]
    last = "no answer"
    timeout = aiohttp.ClientTimeout(total=PROBE_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for scheme in schemes:
            try:
                async with session.get(f"{scheme}://{host}/v2/", allow_redirects=False) as r:
                    if r.status in (200, 401) and "Docker-Distribution-Api-Version" in r.headers:
                        return None
                    last = f"{scheme}://{host}/v2/ answered {r.status}, not as a registry"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = f"{scheme}://{host}/v2/ did not answer ({exc or type(exc).__name__})"
    return last


def looks_like_tar(head: bytes) -> bool:
    """Whether the first 512 bytes of a file are a tar header (POSIX or GNU)."""
    return len(head) >= 512 and head[TAR_MAGIC_AT:TAR_MAGIC_AT + 5] == b"ustar"


def busybox_root() -> bytes:
    """A tar of a root holding only the machine's BusyBox and its applets, a web root and an
    /etc/passwd: enough for BusyBox's httpd to serve a mapped folder."""
    data = BUSYBOX.read_bytes()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for folder in ("bin", "www", "tmp", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        _add_file(tar, "bin/busybox", data, 0o755)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/:/bin/sh\n", 0o644)
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out.getvalue()


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def busybox_only(images: list[str]) -> bool:
    return bool(images) and all(i == BUSYBOX_IMAGE for i in images)


def busybox_static() -> bool:
    """Whether this machine's BusyBox runs alone in an empty root (statically linked: no
    interpreter in its program headers)."""
    try:
        with BUSYBOX.open("rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return head[:4] == b"\x7fELF" and re.search(rb"/lib(?:64)?/ld-", head) is None


async def make_demo_images(engine: Engine, definitions: Iterable[Definition],
                           registry: str | None) -> list[str]:
    """For each catalog app running only Docker Hub's busybox, make its image here from this
    machine's BusyBox where the engine lacks it; answers the images made."""
    if not busybox_static():
        log.warning("the demo's offline app needs a statically linked %s", BUSYBOX)
        return []
    made = []
    wanted = {(c.image, c.tag) for d in definitions
              if busybox_only([c.image for c in d.containers]) for c in d.containers}
    for image, tag in sorted(wanted):
        ref = resolve(image, registry)
        try:
            if await engine.has_image(f"{ref}:{tag}"):
                continue
            root = await asyncio.to_thread(busybox_root)
            await engine.import_root(root, ref, tag, ["sh"])
        except EngineError as exc:
            log.warning("could not make the demo's image %s:%s: %s", ref, tag, exc)
            continue
        log.info("made the demo's image %s:%s from %s", ref, tag, BUSYBOX)
        made.append(f"{ref}:{tag}")
    return made


async def receive(content: aiohttp.StreamReader, folder: Path, limit: int,
                  length: int | None) -> Path:
    """An uploaded image file, streamed into `folder`: 413 past `limit` bytes, 400 where it
    does not start as a tar; nothing is left behind on either."""
    if length is not None and length > limit:
        raise PayloadTooLarge(f"an image file is at most {limit} bytes", detail={"limit": limit})
    await asyncio.to_thread(folder.mkdir, mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(8)}.tar"
    size = 0
    try:
        with path.open("xb") as out:
            head = await content.readexactly(512) if length != 0 else b""
            if not looks_like_tar(head):
                raise BadRequest("the body is not a tar file (as `docker save` writes)",
                                 code="not_an_image_file")
            out.write(head)
            size = len(head)
            async for chunk in content.iter_chunked(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"an image file is at most {limit} bytes",
                                          detail={"limit": limit})
                await asyncio.to_thread(out.write, chunk)
    except asyncio.IncompleteReadError:
        path.unlink(missing_ok=True)
        raise BadRequest("the body is not a tar file (as `docker save` writes)",
                         code="not_an_image_file") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def chunks_of(path: Path, sent: Callable[[int], None]) -> AsyncIterator[bytes]:
    """A file in 1 MiB pieces, telling `sent` the bytes given so far."""
    done = 0
    with path.open("rb") as f:
        while chunk := await asyncio.to_thread(f.read, 1 << 20):
            done += len(chunk)
            sent(done)
            yield chunk


def clear_uploads(folder: Path) -> None:
    """At start-up no load job runs: an upload left there by a rockd that stopped is deleted."""
    for path in folder.glob("*.tar"):
        path.unlink(missing_ok=True)
