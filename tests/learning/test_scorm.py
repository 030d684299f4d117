"""Unpacking SCORM 1.2 packages: the test course unpacks; traversal names, links, zip bombs,
too many or too large files, and missing or bad manifests are refused, leaving nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalling.learning.courses import scorm_outcome
from signalling.learning.scorm import Limits, PackageRefused, parse_manifest, safe_name, unpack
from tests.learning import scorm_packages as packages

LIMITS = Limits(max_size=10 * 1024 * 1024, max_files=50, max_ratio=100)


def _unpack(tmp_path: Path, data: bytes, limits: Limits = LIMITS) -> Path:
    archive = tmp_path / "package.zip"
    archive.write_bytes(data)
    dest = tmp_path / "out"
    unpack(archive, dest, limits)
    return dest


def _refused(tmp_path: Path, data: bytes, limits: Limits = LIMITS) -> str:
    with pytest.raises(PackageRefused) as caught:
        _unpack(tmp_path, data, limits)
    assert not (tmp_path / "out").exists(), "a refused package leaves nothing behind"
    return caught.value.reason


def test_the_test_course_unpacks(tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    archive.write_bytes(packages.course())
    result = unpack(archive, tmp_path / "out", LIMITS)
    assert result.manifest.title == "Workplace safety basics"
    assert result.manifest.launch == "index.html"
    assert result.manifest.mastery_score == 70
    assert result.manifest.identifier == "lippejob.test.first-aid"
    assert result.files == 4 and result.skipped == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "course.css",
        "course.js",
        "imsmanifest.xml",
        "index.html",
    ]


@pytest.mark.parametrize(
    "name",
    [
        "../evil.html",
        "pages/../../evil.html",
        "/etc/cron.d/evil",
        "C:/evil.html",
        "pages\\..\\evil.html",
        "pages/./x.html",
        "pages//x.html",
        "evil\x01.html",
        "x" * 256 + ".html",
    ],
)
def test_traversal_names_are_refused(tmp_path: Path, name: str) -> None:
    assert _refused(tmp_path, packages.with_entry(name)) == "unsafe_name"
    assert not (tmp_path / "evil.html").exists()


def test_a_file_and_a_folder_of_one_name_are_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, packages.with_entry("index.html/page.html")) == "unsafe_name"


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, packages.symlink()) == "symlink"


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, packages.zip_bomb()) == "zip_bomb"


def test_a_file_larger_than_its_header_says_is_refused(tmp_path: Path) -> None:
    # The header claims 1 KiB; counting while unpacking (or the CRC) catches the rest.
    assert _refused(tmp_path, packages.lying_sizes()) in ("zip_bomb", "not_zip")


def test_too_large_unpacked_is_refused(tmp_path: Path) -> None:
    data = packages.with_entry("media/big.txt", bytes(range(256)) * 8 * 1024)  # 2 MiB
    limits = Limits(max_size=1024 * 1024, max_files=50, max_ratio=1000)
    assert _refused(tmp_path, data, limits) == "too_large"


def test_too_many_files_are_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, packages.many_files(60)) == "too_many_files"


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, packages.with_entry("INDEX.html")) == "duplicate"


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, b"%PDF-1.7 this is no zip") == "not_zip"


def test_a_missing_manifest_is_refused(tmp_path: Path) -> None:
    assert _refused(tmp_path, packages.without_manifest()) == "no_manifest"


def test_a_utf16_manifest_is_refused(tmp_path: Path) -> None:
    text = packages.manifest_text().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    data = text.replace("<metadata>", '<!DOCTYPE m [<!ENTITY a "a">]><metadata>')
    refused = _refused(tmp_path, packages.with_manifest_bytes(data.encode("utf-16")))
    assert refused == "bad_manifest"


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<manifest", "<manifest <<", "bad_manifest"),
        (
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]>',
            "bad_manifest",
        ),
        ("<schemaversion>1.2", "<schemaversion>2004 4th Edition", "not_scorm12"),
        ('href="index.html"', 'href="../index.html"', "unsafe_name"),
        ('href="index.html"', 'href="https://evil.example/x.html"', "no_launch"),
        ('href="index.html"', 'href="missing.html"', "no_launch"),
        ('identifierref="res-1"', 'identifierref="nope"', "no_launch"),
        ("<organizations", "<nothing", "bad_manifest"),
    ],
)
def test_bad_manifests_are_refused(tmp_path: Path, old: str, new: str, reason: str) -> None:
    text = packages.manifest_text().replace(old, new)
    if old == "<organizations":
        text = text.replace("</organizations>", "</nothing>")
    assert _refused(tmp_path, packages.with_manifest(text)) == reason


def test_files_of_other_kinds_are_left_out(tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    archive.write_bytes(packages.with_entry("tools/setup.exe", b"MZ"))
    result = unpack(archive, tmp_path / "out", LIMITS)
    assert result.skipped == 1
    assert not (tmp_path / "out" / "tools").exists()


def test_safe_name_keeps_ordinary_names() -> None:
    assert safe_name("pages/chapter 1/index.html").as_posix() == "pages/chapter 1/index.html"


def test_manifest_without_metadata_is_read_as_scorm12() -> None:
    text = packages.manifest_text()
    start, end = text.index("<metadata>"), text.index("</metadata>") + len("</metadata>")
    manifest = parse_manifest((text[:start] + text[end:]).encode())
    assert manifest.launch == "index.html"


@pytest.mark.parametrize(
    ("status", "score", "mastery", "verdict", "scaled"),
    [
        ("incomplete", (50.0, 0.0, 100.0), None, None, None),
        ("passed", (80.0, 0.0, 100.0), None, "passed", 0.8),
        ("failed", (3.0, 0.0, 10.0), None, "failed", 0.3),
        ("completed", None, None, None, None),
        ("completed", (65.0, 0.0, 100.0), 70.0, "failed", 0.65),
        ("completed", (75.0, 0.0, 100.0), 70.0, "passed", 0.75),
    ],
)
def test_scorm_outcomes(
    status: str,
    score: tuple[float, float, float] | None,
    mastery: float | None,
    verdict: str | None,
    scaled: float | None,
) -> None:
    outcome, judged = scorm_outcome(status, score, mastery)
    assert judged == verdict
    if status == "incomplete":
        assert outcome is None
    else:
        assert outcome is not None and outcome.completion is True
        assert outcome.scaled == scaled
