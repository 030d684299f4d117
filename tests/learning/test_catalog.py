"""The module catalog: the shipped modules load complete; bad manifests are refused with
their reason (logged) while the other modules still load; pages are sanitised."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from core.model import LANGUAGES
from signalling.learning.catalog import SectionKind, load_catalog, load_module
from signalling.learning.markdown import render_page
from tests.learning.modules import MANIFEST, write_module
from web import MODULES_DIR


def test_the_shipped_modules_are_complete_in_german_and_english() -> None:
    catalog = load_catalog(MODULES_DIR)
    assert catalog.refused == {}
    assert set(catalog.modules) == {"video-interview", "cv-five-steps"}
    for module in catalog.modules.values():
        assert set(module.title) == set(LANGUAGES), module.id
        assert set(module.summary) == set(LANGUAGES), module.id
        # The CV course is also in Leichte Sprache (issue 12; tests/test_easy_language.py).
        assert module.languages[:2] == ("de", "en")
        kinds = [s.kind for s in module.sections]
        assert kinds.count(SectionKind.PAGE) >= 3 and kinds[-1] == SectionKind.QUIZ
        for section in module.sections:
            assert set(section.title) == set(module.languages)
            if section.kind == SectionKind.PAGE:
                assert all(len(section.html[lang]) > 300 for lang in module.languages)
        assert any(q.multiple for _, q in module.questions())
        assert any(not q.multiple for _, q in module.questions())
    film = catalog.modules["video-interview"].section("light")
    assert film is not None and film.kind == SectionKind.VIDEO
    assert set(film.captions) == {"de", "en"}
    assert catalog.modules["video-interview"].title_in("ar") == "الاستعداد لمقابلة عمل عبر الفيديو"
    # Turkish readers get the sections in English, the module's first fallback.
    assert catalog.modules["cv-five-steps"].content_language("tr") == "en"


def test_a_valid_module_with_a_video_loads(tmp_path: Path) -> None:
    module = load_module(write_module(tmp_path / "m"))
    clip = module.section("clip")
    assert clip is not None and clip.kind == SectionKind.VIDEO
    assert clip.video is not None and clip.video.stat().st_size > 100
    assert set(module.media()) == {"media/clip.webm", "media/clip.de.vtt", "media/clip.en.vtt"}
    quiz = module.section("quiz")
    assert quiz is not None
    assert quiz.questions[1].grade({"red", "blue"})
    assert not quiz.questions[1].grade({"red"})
    assert not quiz.questions[1].grade({"red", "blue", "chair"})


BAD = [
    ("missing-key", lambda m: m.replace('minutes = 5\n', ''), "missing minutes"),
    ("unknown-key", lambda m: m.replace('minutes = 5\n', 'minutes = 5\ncolour = "red"\n'),
     "unknown keys colour"),
    ("bad-language", lambda m: m.replace('["de", "en"]', '["de", "xx"]'), "languages: must"),
    ("title-missing-en", lambda m: m.replace('en = "Test module", ', ''),
     "title: missing languages en"),
    ("two-right-single", lambda m: m.replace(
        'id = "two"\ncorrect = false', 'id = "two"\ncorrect = true'),
     "sections[2].questions[0].choices: a single-choice question has one right choice"),
    ("traversal", lambda m: m.replace('de = "de.md"', 'de = "../../outside.md"'),
     "sections[0].body.de: points outside the module's folder"),
    ("missing-file", lambda m: m.replace('de = "de.md"', 'de = "nope.md"'),
     "sections[0].body.de: file nope.md not found"),
    ("not-vtt", lambda m: m.replace('de = "media/clip.de.vtt"', 'de = "de.md"'),
     "sections[1].captions.de: must end with .vtt"),
    ("bad-type", lambda m: m.replace('type = "page"', 'type = "slides"'),
     "sections[0].type: must be page, video or quiz"),
    ("dup-section", lambda m: m.replace('id = "clip"', 'id = "intro"'),
     "sections: section ids must be unique"),
    ("bad-toml", lambda m: m + "\n[[[", "module.toml is not valid TOML"),
    ("bad-id", lambda m: m.replace('id = "{id}"', 'id = "Bad Id"'), "id: must be"),
    ("video-type", lambda m: m.replace('"media/clip.webm"', '"de.md"'),
     "sections[1].video: must end with .mp4 or .webm"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "reason"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_module_is_refused_with_its_reason_and_the_others_load(
    tmp_path: Path, name: str, change: object, reason: str
) -> None:
    write_module(tmp_path / "a-good", "good")
    write_module(tmp_path / "b-bad", "bad", manifest=change(MANIFEST))  # type: ignore[operator]
    (tmp_path / "outside.md").write_text("secret", encoding="utf-8")
    with capture_logs() as logs:
        catalog = load_catalog(tmp_path)
    assert list(catalog.modules) == ["good"]
    assert reason in catalog.refused["b-bad"], catalog.refused
    refused = [e for e in logs if e["event"] == "learning_module_refused"]
    assert [(e["folder"], reason in e["reason"]) for e in refused] == [("b-bad", True)]


def test_a_wrong_caption_file_and_a_second_module_with_a_taken_id_are_refused(
    tmp_path: Path,
) -> None:
    write_module(tmp_path / "a", "same")
    write_module(tmp_path / "b", "same")
    broken = write_module(tmp_path / "c", "broken-captions")
    (broken / "media" / "clip.en.vtt").write_text("1\n00:00 --> 00:01\nno header\n", "utf-8")
    (tmp_path / "d").mkdir()  # no manifest at all
    catalog = load_catalog(tmp_path)
    assert list(catalog.modules) == ["same"]
    assert catalog.refused == {
        "b": "id: same is already taken by another module",
        "c": "sections[1].captions.en: file media/clip.en.vtt is not WebVTT",
        "d": "no module.toml",
    }


def test_pages_are_sanitised() -> None:
    html = render_page(
        "### Title\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[bad](javascript:alert(1)) [good](https://arbeitsagentur.de) **bold**\n"
    )
    assert "<script" not in html and "<img" not in html  # raw HTML shows as text
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert '<a href="https://arbeitsagentur.de" rel="noopener noreferrer">good</a>' in html
    assert "<h3>Title</h3>" in html and "<strong>bold</strong>" in html
