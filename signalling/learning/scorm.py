"""SCORM 1.2 packages: reading `imsmanifest.xml` and unpacking the ZIP safely.

A package is refused (`PackageRefused`, with a reason code and a sentence) when it is not a
ZIP, when an entry's name could leave the package's folder (absolute, `..`, a drive letter,
backslashes, control characters), is a symbolic link or encrypted, when two entries would
land on the same file, when it holds more files or unpacks larger than the limits, when one
file unpacks much larger than it is compressed (a zip bomb), or when its manifest is missing,
not SCORM 1.2 or names no launch page inside the package. Sizes are counted while unpacking,
never taken from the ZIP's headers alone. Files of kinds a course does not need (programs,
archives, ...) are left out, so only web content is ever served.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO
from xml.etree import ElementTree as ET

MANIFEST = "imsmanifest.xml"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_TITLE = 200
MAX_NAME = 1000
MAX_PART = 255  # bytes in one part of a name, as file systems allow
# Below this a file's compression ratio is not judged: small text compresses very well.
RATIO_FLOOR = 64 * 1024
CHUNK = 64 * 1024
# What a course is made of; anything else in a package is left out.
CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".xml": "application/xml",
    ".xsd": "application/xml",
    ".dtd": "application/xml-dtd",
    ".txt": "text/plain",
    ".vtt": "text/vtt",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".pdf": "application/pdf",
}
HTML = {".html", ".htm"}
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\\:*?\"<>|]")


class PackageRefused(ValueError):
    """Why a package is refused: `reason` is a short code for tests and the audit."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_size: int = 200 * 1024 * 1024  # bytes unpacked
    max_files: int = 5000
    max_ratio: int = 100  # unpacked / compressed, per file


@dataclass(frozen=True)
class Manifest:
    identifier: str
    title: str
    launch: str  # a path inside the package, with its query string if the manifest gave one
    mastery_score: float | None


@dataclass(frozen=True)
class Unpacked:
    manifest: Manifest
    files: int
    size: int
    skipped: int  # entries left out for their kind


def safe_name(name: str) -> PurePosixPath:
    """An entry's name as a relative path that stays inside the package, or PackageRefused."""
    if not name or len(name) > MAX_NAME or name.startswith("/") or _BAD_CHARS.search(name):
        raise PackageRefused("unsafe_name", "the package holds a file with an unsafe name")
    path = PurePosixPath(name)
    parts = name.rstrip("/").split("/")
    if any(part in ("..", ".", "") or len(part.encode()) > MAX_PART for part in parts):
        raise PackageRefused("unsafe_name", "the package holds a file with an unsafe name")
    return path


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _children(node: ET.Element, name: str) -> Iterator[ET.Element]:
    return (c for c in node if _local(c.tag) == name)


def _child(node: ET.Element, name: str) -> ET.Element | None:
    return next(_children(node, name), None)


def _attr(node: ET.Element, name: str) -> str | None:
    for key, value in node.attrib.items():
        if _local(key) == name.lower():
            return value
    return None


def _text(node: ET.Element | None) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


def _first_launchable(item: ET.Element) -> ET.Element | None:
    for child in _children(item, "item"):
        if _attr(child, "identifierref"):
            return child
        found = _first_launchable(child)
        if found is not None:
            return found
    return None


def parse_manifest(data: bytes) -> Manifest:
    """The launch page, title and mastery score of a SCORM 1.2 `imsmanifest.xml`."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise PackageRefused("bad_manifest", f"{MANIFEST} is too large")
    if b"\x00" in data:
        # UTF-16 or UTF-32 would hide a DOCTYPE from the check below; manifests are UTF-8.
        raise PackageRefused("bad_manifest", f"{MANIFEST} must be UTF-8")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        # Entities are how XML bombs and external reads work; a manifest needs none.
        raise PackageRefused("bad_manifest", f"{MANIFEST} may not declare a DOCTYPE or entities")
    try:
        root = ET.fromstring(data)  # noqa: S314 (no DOCTYPE, so no entities to expand)
    except ET.ParseError:
        raise PackageRefused("bad_manifest", f"{MANIFEST} is not well-formed XML") from None
    if _local(root.tag) != "manifest":
        raise PackageRefused("bad_manifest", f"{MANIFEST} is not an IMS manifest")
    metadata = _child(root, "metadata")
    version = _text(_child(metadata, "schemaversion")) if metadata is not None else ""
    if version and version != "1.2":
        raise PackageRefused("not_scorm12", f"this is not a SCORM 1.2 package ({version[:40]})")
    organizations = _child(root, "organizations")
    orgs = list(_children(organizations, "organization")) if organizations is not None else []
    default = _attr(organizations, "default") if organizations is not None else None
    org = next((o for o in orgs if _attr(o, "identifier") == default), orgs[0] if orgs else None)
    if org is None:
        raise PackageRefused("bad_manifest", f"{MANIFEST} has no organization")
    item = _first_launchable(org)
    if item is None:
        raise PackageRefused("no_launch", f"{MANIFEST} names no item to launch")
    resources = _child(root, "resources")
    ref = _attr(item, "identifierref")
    resource = (
        next(
            (r for r in _children(resources, "resource") if _attr(r, "identifier") == ref),
            None,
        )
        if resources is not None
        else None
    )
    href = _attr(resource, "href") if resource is not None else None
    if resource is None or not href:
        raise PackageRefused("no_launch", f"{MANIFEST} names no launch page")
    base = (_attr(resources, "base") or "") + (_attr(resource, "base") or "")  # type: ignore[arg-type]
    launch = base + href.strip() + (_attr(item, "parameters") or "").strip()
    if len(launch) > MAX_NAME:
        raise PackageRefused("no_launch", "the launch page's address is too long")
    page = launch.split("?", 1)[0].split("#", 1)[0]
    if "://" in page or PurePosixPath(page).suffix.lower() not in HTML:
        raise PackageRefused("no_launch", "the launch page must be an HTML file in the package")
    safe_name(page)
    mastery = _text(_child(item, "masteryscore"))
    try:
        mastery_score = float(mastery) if mastery else None
    except ValueError:
        mastery_score = None
    if mastery_score is not None and not 0 <= mastery_score <= 100:
        mastery_score = None
    identifier = (_attr(root, "identifier") or "")[:200]
    title = (_text(_child(org, "title")) or _text(_child(item, "title")) or identifier)[:MAX_TITLE]
    if not title:
        raise PackageRefused("bad_manifest", f"{MANIFEST} names no title")
    return Manifest(identifier, title, launch, mastery_score)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _plan(archive: zipfile.ZipFile, limits: Limits) -> tuple[list[zipfile.ZipInfo], int]:
    """The entries to unpack (and how many were left out for their kind), or PackageRefused."""
    entries = archive.infolist()
    if len(entries) > limits.max_files * 2:
        raise PackageRefused(
            "too_many_files", f"the package holds more than {limits.max_files} files"
        )
    chosen: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    declared = skipped = 0
    for info in entries:
        path = safe_name(info.filename)
        if _is_symlink(info):
            raise PackageRefused("symlink", "the package holds a symbolic link")
        if info.flag_bits & 0x1:
            raise PackageRefused("encrypted", "the package holds an encrypted file")
        if info.is_dir():
            continue
        key = path.as_posix().casefold()
        if key in seen:
            raise PackageRefused("duplicate", "the package holds two files with the same name")
        seen.add(key)
        if path.suffix.lower() not in CONTENT_TYPES:
            skipped += 1
            continue
        if info.file_size > RATIO_FLOOR and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise PackageRefused("zip_bomb", "a file in the package unpacks far larger than it is")
        declared += info.file_size
        chosen.append(info)
    if len(chosen) > limits.max_files:
        raise PackageRefused(
            "too_many_files", f"the package holds more than {limits.max_files} files"
        )
    if declared > limits.max_size:
        raise PackageRefused(
            "too_large", f"the package unpacks larger than {limits.max_size} bytes"
        )
    if MANIFEST not in {i.filename for i in chosen}:
        raise PackageRefused("no_manifest", f"the package has no {MANIFEST} at its top")
    return chosen, skipped


def _copy(source: IO[bytes], target: Path, info: zipfile.ZipInfo, budget: int) -> int:
    """Unpack one entry, counting what really comes out; returns its size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    written = 0
    with os.fdopen(os.open(target, flags, 0o640), "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise PackageRefused("zip_bomb", "a file in the package is larger than it says")
            if written > budget:
                raise PackageRefused("too_large", "the package unpacks larger than allowed")
            out.write(chunk)
    return written


def unpack(archive_path: Path, dest: Path, limits: Limits) -> Unpacked:
    """Unpack the package at `archive_path` into `dest` (which must not exist yet). On any
    refusal nothing of it stays on disk."""
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError):
        raise PackageRefused("not_zip", "the file is not a ZIP archive") from None
    dest.mkdir(mode=0o750)
    try:
        with archive:
            chosen, skipped = _plan(archive, limits)
            manifest = parse_manifest(archive.read(MANIFEST)[: MAX_MANIFEST_BYTES + 1])
            total = 0
            for info in chosen:
                with archive.open(info) as source:
                    total += _copy(source, dest / info.filename, info, limits.max_size - total)
        launch = manifest.launch.split("?", 1)[0].split("#", 1)[0]
        if not (dest / launch).is_file():
            raise PackageRefused("no_launch", "the launch page is not in the package")
        return Unpacked(manifest, len(chosen), total, skipped)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, zlib.error):
        shutil.rmtree(dest, ignore_errors=True)
        raise PackageRefused("not_zip", "the ZIP archive is damaged or unsupported") from None
    except OSError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG):
            # A file and a folder of one name ("a.html" and "a.html/b.html"), or too deep.
            raise PackageRefused("unsafe_name", "the package's file names conflict") from None
        raise
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def content_type(path: PurePosixPath) -> str | None:
    """The type a package's file is served as (None: not served)."""
    return CONTENT_TYPES.get(path.suffix.lower())
