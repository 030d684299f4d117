"""SCORM 1.2 packages for the tests, built in memory: the small test course
(tests/learning/scorm/course), the probe that reaches for the page around it
(tests/learning/scorm/probe), and hostile or broken archives."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

HERE = Path(__file__).parent / "scorm"
COURSE = HERE / "course"
PROBE = HERE / "probe"


def zip_folder(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """The folder's files as a ZIP, named relative to it, plus `extra` entries."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def course() -> bytes:
    return zip_folder(COURSE)


def probe() -> bytes:
    return zip_folder(PROBE)


def with_entry(name: str, data: bytes = b"x") -> bytes:
    """The test course with one more entry named `name` (a traversal name, say)."""
    return zip_folder(COURSE, {name: data})


def zip_bomb(size: int = 50 * 1024 * 1024) -> bytes:
    """The test course with a file of zeros that deflates a thousandfold."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(COURSE.rglob("*")):
            archive.write(path, path.relative_to(COURSE).as_posix())
        with archive.open("media/zeros.txt", "w") as out:
            chunk = bytes(1024 * 1024)
            for _ in range(size // len(chunk)):
                out.write(chunk)
    return buffer.getvalue()


def lying_sizes() -> bytes:
    """A ZIP whose header says a file is small while it unpacks large (a hand-made bomb)."""
    data = bytearray(zip_bomb(2 * 1024 * 1024))
    # Patch the central directory's uncompressed size of media/zeros.txt to 1 KiB; the local
    # header keeps the truth, so only counting while unpacking catches it.
    name = b"media/zeros.txt"
    central = data.find(b"PK\x01\x02")
    while central != -1:
        if data[central + 46 : central + 46 + len(name)] == name:
            data[central + 24 : central + 28] = (1024).to_bytes(4, "little")
            return bytes(data)
        central = data.find(b"PK\x01\x02", central + 4)
    raise AssertionError("entry not found")


def symlink() -> bytes:
    """The test course with a symbolic link to /etc/passwd."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(COURSE.rglob("*")):
            archive.write(path, path.relative_to(COURSE).as_posix())
        info = zipfile.ZipInfo("passwd.txt")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def many_files(count: int) -> bytes:
    return zip_folder(COURSE, {f"pages/p{i}.html": b"<p>x</p>" for i in range(count)})


def without_manifest() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(COURSE / "index.html", "index.html")
    return buffer.getvalue()


def with_manifest(text: str) -> bytes:
    return with_manifest_bytes(text.encode())


def with_manifest_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(COURSE / "index.html", "index.html")
        archive.writestr("imsmanifest.xml", data)
    return buffer.getvalue()


def manifest_text() -> str:
    return (COURSE / "imsmanifest.xml").read_text(encoding="utf-8")
