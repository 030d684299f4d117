"""The e-learning modules of the content folder (DESIGN.md, E-learning and help requests).

Each module is a folder with a `module.toml` manifest:

    id = "cv-five-steps"           # a-z, 0-9 and "-", unique in the catalog
    version = "1.0"
    languages = ["de", "en"]       # the languages its sections are written in
    minutes = 20                   # estimated time
    pass_score = 0.75              # share of quiz questions right to pass (default 0.75)
    title = { de = "...", en = "...", tr = "..." }    # at least every language above
    summary = { de = "...", en = "..." }

    [[sections]]                   # in order; id unique in the module
    id = "intro"
    type = "page"                  # page | video | quiz
    title = { de = "...", en = "..." }
    body = { de = "de/intro.md", en = "en/intro.md" }     # page: Markdown per language

    [[sections]]
    type = "video"
    video = "media/clip.webm"      # .webm or .mp4, served from this server
    captions = { de = "media/clip.de.vtt", en = "media/clip.en.vtt" }   # WebVTT per language

    [[sections]]
    type = "quiz"
    [[sections.questions]]
    id = "q1"
    kind = "single"                # single | multiple
    prompt = { de = "...", en = "..." }
    [[sections.questions.choices]]
    id = "a"
    correct = true
    text = { de = "...", en = "..." }
    feedback = { de = "...", en = "..." }

A manifest is validated when the catalog loads; a bad module is refused with its reason
logged and the others still load. Files named by a manifest must lie inside its folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from core.model import LANGUAGES, locale_of
from signalling.learning.markdown import render_page

log = structlog.get_logger(__name__)

MANIFEST = "module.toml"
ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_SECTIONS = 40
MAX_QUESTIONS = 20
MAX_CHOICES = 8
MAX_TEXT = 2000  # a title, prompt, choice or feedback
MAX_PAGE_BYTES = 256 * 1024
MAX_VIDEO_BYTES = 200 * 1024 * 1024
MAX_CAPTION_BYTES = 512 * 1024
VIDEO_TYPES = {".webm": "video/webm", ".mp4": "video/mp4"}
DEFAULT_PASS_SCORE = 0.75
# The language a module falls back to when it is not written in the learner's.
FALLBACKS = ("en", "de")


class ManifestError(ValueError):
    """Why a module was refused: `where` names the manifest's key, e.g. sections[2].body."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class SectionKind(StrEnum):
    PAGE = "page"
    VIDEO = "video"
    QUIZ = "quiz"


@dataclass(frozen=True)
class Choice:
    id: str
    correct: bool
    text: Mapping[str, str]
    feedback: Mapping[str, str]


@dataclass(frozen=True)
class Question:
    id: str
    multiple: bool
    prompt: Mapping[str, str]
    choices: tuple[Choice, ...]

    def right(self) -> frozenset[str]:
        return frozenset(c.id for c in self.choices if c.correct)

    def grade(self, chosen: Iterable[str]) -> bool:
        """Right when exactly the correct choices are chosen."""
        return frozenset(chosen) == self.right()


@dataclass(frozen=True)
class Section:
    id: str
    kind: SectionKind
    title: Mapping[str, str]
    html: Mapping[str, str] = field(default_factory=dict)  # page: sanitised HTML per language
    video: Path | None = None
    captions: Mapping[str, Path] = field(default_factory=dict)
    questions: tuple[Question, ...] = ()


@dataclass(frozen=True)
class Module:
    id: str
    version: str
    languages: tuple[str, ...]
    minutes: int
    pass_score: float
    title: Mapping[str, str]
    summary: Mapping[str, str]
    sections: tuple[Section, ...]
    folder: Path

    def content_language(self, lang: str) -> str:
        """The language the sections are shown in for a learner who reads `lang`."""
        # Easy language falls back to standard German before the usual fallbacks.
        for candidate in (lang, locale_of(lang), *FALLBACKS):
            if candidate in self.languages:
                return candidate
        return self.languages[0]

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or self.title[self.content_language(lang)]

    def summary_in(self, lang: str) -> str:
        return self.summary.get(lang) or self.summary[self.content_language(lang)]

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def questions(self) -> list[tuple[Section, Question]]:
        return [(s, q) for s in self.sections for q in s.questions]

    def media(self) -> dict[str, Path]:
        """The files this module serves, by their name in the manifest."""
        files: dict[str, Path] = {}
        for s in self.sections:
            if s.video is not None:
                files[s.video.relative_to(self.folder).as_posix()] = s.video
            for path in s.captions.values():
                files[path.relative_to(self.folder).as_posix()] = path
        return files


@dataclass(frozen=True)
class Catalog:
    modules: Mapping[str, Module]
    refused: Mapping[str, str]  # folder name: why

    def get(self, module_id: str) -> Module | None:
        return self.modules.get(module_id)


# ---- reading a manifest ------------------------------------------------------------------


def _keys(where: str, data: Any, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ManifestError(where, "must be a table")
    missing = required - set(data)
    if missing:
        raise ManifestError(where, f"missing {', '.join(sorted(missing))}")
    unknown = set(data) - required - optional
    if unknown:
        raise ManifestError(where, f"unknown keys {', '.join(sorted(unknown))}")
    return data


def _id(where: str, value: Any) -> str:
    if not isinstance(value, str) or not ID.fullmatch(value):
        raise ManifestError(where, "must be 1 to 64 of a-z, 0-9 and '-'")
    return value


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(where, "must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ManifestError(where, f"is longer than {MAX_TEXT} characters")
    return value.strip()


def _per_language(where: str, value: Any, needed: Iterable[str]) -> dict[str, str]:
    """A string per language: at least every language in `needed`, only known ones."""
    if not isinstance(value, dict):
        raise ManifestError(where, "must be a table of language: text")
    unknown = set(value) - set(LANGUAGES)
    if unknown:
        raise ManifestError(where, f"unknown languages {', '.join(sorted(unknown))}")
    missing = [lang for lang in needed if lang not in value]
    if missing:
        raise ManifestError(where, f"missing languages {', '.join(missing)}")
    return {lang: _text(f"{where}.{lang}", text) for lang, text in value.items()}


def _file(where: str, folder: Path, value: Any, suffixes: Iterable[str], limit: int) -> Path:
    """A file inside the module's folder (no way out by `..` or a link), of a known kind."""
    if not isinstance(value, str) or not value or value.startswith("/") or "\\" in value:
        raise ManifestError(where, "must be a relative path inside the module's folder")
    root = folder.resolve()
    path = (root / value).resolve()
    if not path.is_relative_to(root):
        raise ManifestError(where, "points outside the module's folder")
    if path.suffix.lower() not in set(suffixes):
        raise ManifestError(where, f"must end with {' or '.join(sorted(suffixes))}")
    if not path.is_file():
        raise ManifestError(where, f"file {value} not found")
    if path.stat().st_size > limit:
        raise ManifestError(where, f"file {value} is larger than {limit} bytes")
    return path


def _read_text(where: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(where, f"file {path.name} is not UTF-8") from None


def _choice(where: str, data: Any, langs: tuple[str, ...]) -> Choice:
    body = _keys(where, data, {"id", "correct", "text", "feedback"}, set())
    if not isinstance(body["correct"], bool):
        raise ManifestError(f"{where}.correct", "must be true or false")
    return Choice(
        id=_id(f"{where}.id", body["id"]),
        correct=body["correct"],
        text=_per_language(f"{where}.text", body["text"], langs),
        feedback=_per_language(f"{where}.feedback", body["feedback"], langs),
    )


def _question(where: str, data: Any, langs: tuple[str, ...]) -> Question:
    body = _keys(where, data, {"id", "kind", "prompt", "choices"}, set())
    if body["kind"] not in ("single", "multiple"):
        raise ManifestError(f"{where}.kind", "must be single or multiple")
    raw = body["choices"]
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_CHOICES:
        raise ManifestError(f"{where}.choices", f"must list 2 to {MAX_CHOICES} choices")
    choices = tuple(_choice(f"{where}.choices[{i}]", c, langs) for i, c in enumerate(raw))
    if len({c.id for c in choices}) != len(choices):
        raise ManifestError(f"{where}.choices", "choice ids must be unique")
    right = sum(c.correct for c in choices)
    if body["kind"] == "single" and right != 1:
        raise ManifestError(f"{where}.choices", "a single-choice question has one right choice")
    if body["kind"] == "multiple" and right < 1:
        raise ManifestError(f"{where}.choices", "a multiple-choice question needs a right choice")
    return Question(
        id=_id(f"{where}.id", body["id"]),
        multiple=body["kind"] == "multiple",
        prompt=_per_language(f"{where}.prompt", body["prompt"], langs),
        choices=choices,
    )


def _section(where: str, data: Any, folder: Path, langs: tuple[str, ...]) -> Section:
    if not isinstance(data, dict):
        raise ManifestError(where, "must be a table")
    try:
        kind = SectionKind(str(data.get("type")))
    except ValueError:
        raise ManifestError(f"{where}.type", "must be page, video or quiz") from None
    extra = {
        SectionKind.PAGE: {"body"},
        SectionKind.VIDEO: {"video", "captions"},
        SectionKind.QUIZ: {"questions"},
    }[kind]
    body = _keys(where, data, {"id", "type", "title", *extra}, set())
    section_id = _id(f"{where}.id", body["id"])
    title = _per_language(f"{where}.title", body["title"], langs)
    if kind == SectionKind.PAGE:
        files = body["body"]
        if not isinstance(files, dict):
            raise ManifestError(f"{where}.body", "must be a table of language: file")
        _per_language(f"{where}.body", files, langs)
        html = {}
        for lang, name in files.items():
            path = _file(f"{where}.body.{lang}", folder, name, {".md"}, MAX_PAGE_BYTES)
            html[lang] = render_page(_read_text(f"{where}.body.{lang}", path))
        return Section(section_id, kind, title, html=html)
    if kind == SectionKind.VIDEO:
        video = _file(f"{where}.video", folder, body["video"], VIDEO_TYPES, MAX_VIDEO_BYTES)
        names = body["captions"]
        _per_language(f"{where}.captions", names, langs)
        captions = {}
        for lang, name in names.items():
            here = f"{where}.captions.{lang}"
            path = _file(here, folder, name, {".vtt"}, MAX_CAPTION_BYTES)
            if not _read_text(here, path).lstrip("\ufeff").startswith("WEBVTT"):
                raise ManifestError(here, f"file {name} is not WebVTT")
            captions[lang] = path
        return Section(section_id, kind, title, video=video, captions=captions)
    raw = body["questions"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_QUESTIONS:
        raise ManifestError(f"{where}.questions", f"must list 1 to {MAX_QUESTIONS} questions")
    questions = tuple(_question(f"{where}.questions[{i}]", q, langs) for i, q in enumerate(raw))
    if len({q.id for q in questions}) != len(questions):
        raise ManifestError(f"{where}.questions", "question ids must be unique")
    return Section(section_id, kind, title, questions=questions)


def parse_manifest(data: Any, folder: Path) -> Module:
    """A module from a manifest's data; ManifestError says what is wrong and where."""
    body = _keys(
        "",
        data,
        {"id", "version", "languages", "minutes", "title", "summary", "sections"},
        {"pass_score"},
    )
    langs = body["languages"]
    if (
        not isinstance(langs, list)
        or not langs
        or any(lang not in LANGUAGES for lang in langs)
        or len(set(langs)) != len(langs)
    ):
        raise ManifestError("languages", f"must list languages from {', '.join(LANGUAGES)}")
    languages = tuple(langs)
    minutes = body["minutes"]
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 600:
        raise ManifestError("minutes", "must be a whole number from 1 to 600")
    pass_score = body.get("pass_score", DEFAULT_PASS_SCORE)
    if isinstance(pass_score, bool) or not isinstance(pass_score, int | float):
        raise ManifestError("pass_score", "must be a number from 0 to 1")
    if not 0 <= pass_score <= 1:
        raise ManifestError("pass_score", "must be a number from 0 to 1")
    raw = body["sections"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_SECTIONS:
        raise ManifestError("sections", f"must list 1 to {MAX_SECTIONS} sections")
    sections = tuple(_section(f"sections[{i}]", s, folder, languages) for i, s in enumerate(raw))
    if len({s.id for s in sections}) != len(sections):
        raise ManifestError("sections", "section ids must be unique")
    version = body["version"]
    if not isinstance(version, str) or not re.fullmatch(r"[0-9A-Za-z.+-]{1,32}", version):
        raise ManifestError("version", "must be a version string such as 1.0")
    return Module(
        id=_id("id", body["id"]),
        version=version,
        languages=languages,
        minutes=minutes,
        pass_score=float(pass_score),
        title=_per_language("title", body["title"], languages),
        summary=_per_language("summary", body["summary"], languages),
        sections=sections,
        folder=folder.resolve(),
    )


def load_module(folder: Path) -> Module:
    """The module in `folder`; ManifestError if its manifest is missing, unreadable or bad."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ManifestError("", f"no {MANIFEST}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError("", f"{MANIFEST} is not valid TOML: {exc}") from None
    return parse_manifest(data, folder)


def load_catalog(root: Path) -> Catalog:
    """Every module under `root` (one folder each); bad ones are refused and logged, and a
    second module with an id already taken is refused too."""
    modules: dict[str, Module] = {}
    refused: dict[str, str] = {}
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not root.is_dir():
        log.warning("learning_folder_missing", folder=str(root))
    for folder in folders:
        try:
            module = load_module(folder)
            if module.id in modules:
                raise ManifestError("id", f"{module.id} is already taken by another module")
        except ManifestError as exc:
            refused[folder.name] = str(exc)
            log.warning("learning_module_refused", folder=folder.name, reason=str(exc))
            continue
        modules[module.id] = module
    log.info("learning_catalog_loaded", modules=len(modules), refused=len(refused))
    return Catalog(modules, refused)
