"""E-learning in the jobseeker's space: the "Learning" section of the space page (every
module with the profile's own progress, recommended ones first) and the module page
`/space/learning/<module>` that takes the learner through its sections (learning.js)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from babel.dates import format_date
from babel.numbers import format_percent

from core.model import LANGUAGES, Profile, locale_of
from signalling.auth.space import csrf_for_space, current_visit
from signalling.http.learning_api import LEARNING, learning_cards
from signalling.http.pages import NO_STORE, render
from signalling.http.scorm_api import launch_url
from signalling.learning.catalog import Module, Section, SectionKind
from signalling.learning.progress import Status
from signalling.learning.recorder import LearningError

LANGUAGE_LABELS = {
    "de": "Deutsch",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "uk": "Українська",
    "ru": "Русский",
    "de-x-ls": "Leichte Sprache",
}


def _card_view(card: dict[str, Any], lang: str) -> dict[str, Any]:
    """A module card with its due date and score in the page's language."""
    recommended = card["recommended"]
    due = recommended and recommended["due"]
    score = card["progress"]["score"]
    return {
        **card,
        "due": None
        if not due
        else {
            "iso": due,
            "text": format_date(dt.date.fromisoformat(due), "long", locale=locale_of(lang)),
        },
        "score_text": None if score is None else format_percent(score, locale=locale_of(lang)),
        "in_own_language": lang in card["languages"],
    }


async def space_learning_context(
    request: web.Request, profile: Profile, lang: str
) -> dict[str, Any]:
    """What the space page shows of e-learning."""
    cards = await learning_cards(request.app[LEARNING], profile.id, lang)
    return {"learning_modules": [_card_view(c, lang) for c in cards]}


def section_view(
    module: Module, s: Section, module_lang: str, media_base: str | None = None
) -> dict[str, Any]:
    """One section in `module_lang` for a page: a page's sanitised HTML, a video with its
    captions (files under `media_base`), or a quiz's questions without which answers are
    right (those stay on the server)."""
    view: dict[str, Any] = {"id": s.id, "kind": str(s.kind), "title": s.title[module_lang]}
    if s.kind == SectionKind.PAGE:
        view["html"] = s.html[module_lang]
    elif s.kind == SectionKind.VIDEO and s.video is not None:
        base = media_base or f"/learning/media/{module.id}/"
        view["video"] = base + s.video.relative_to(module.folder).as_posix()
        view["captions"] = [
            {
                "lang": lang,
                "label": LANGUAGE_LABELS[lang],
                "src": base + path.relative_to(module.folder).as_posix(),
                "default": lang == module_lang,
            }
            for lang, path in s.captions.items()
        ]
    else:
        view["questions"] = [
            {
                "id": q.id,
                "multiple": q.multiple,
                "prompt": q.prompt[module_lang],
                "choices": [{"id": c.id, "text": c.text[module_lang]} for c in q.choices],
            }
            for q in s.questions
        ]
    return view


def _sections(module: Module, module_lang: str) -> list[dict[str, Any]]:
    return [section_view(module, s, module_lang) for s in module.sections]


async def module_page(request: web.Request) -> web.StreamResponse:
    """GET /space/learning/<module>: one module, section by section."""
    visit = await current_visit(request)
    if visit is None:
        raise web.HTTPSeeOther("/space", headers=NO_STORE)
    chosen = request.query.get("lang")
    lang = chosen if chosen in LANGUAGES else visit.profile.lang
    learning = request.app[LEARNING]
    module = learning.catalog.get(request.match_info["module_id"])
    if module is None:
        return await scorm_page(request, visit.token, visit.profile.id, lang)
    module_lang = module.content_language(lang)
    sections = _sections(module, module_lang)
    csrf = csrf_for_space(visit.token)
    data = {
        "module": module.id,
        "sections": [s["id"] for s in sections],
        "csrf": csrf,
        "resume": await learning.resume_section(visit.profile.id, module),
        "moduleLang": module_lang,
        "moduleDir": "rtl" if module_lang == "ar" else "ltr",
    }
    response = render(
        request,
        "space_module.html",
        "space-module",
        data,
        lang=lang,
        module={
            "id": module.id,
            "title": module.title_in(lang),
            "summary": module.summary_in(lang),
            "minutes": module.minutes,
            "lang": module_lang,
            "lang_name": LANGUAGE_LABELS[module_lang],
        },
        sections=sections,
        own_language=module_lang == lang,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# A learner's progress as the SCORM 1.2 lesson_status a course reads on its next visit.
SCORM_STATUS = {
    Status.PASSED: "passed",
    Status.FAILED: "failed",
    Status.COMPLETED: "completed",
    Status.STARTED: "incomplete",
}


async def scorm_page(request: web.Request, token: str, profile: str, lang: str) -> web.Response:
    """An imported SCORM course: the page with the runtime and the course's sandboxed frame."""
    learning = request.app[LEARNING]
    try:
        course = await learning.scorm_course(request.match_info["module_id"])
    except LearningError:
        raise web.HTTPNotFound() from None
    place = await learning.scorm_place(profile, course.id)
    progress = await learning.progress(profile, course)
    data = {
        "module": course.id,
        "csrf": csrf_for_space(token),
        "launch": launch_url(course.package),
        "learner": profile,
        # What the course gets back on the next visit (SCORM 1.2: entry "resume").
        "resume": None
        if place is None
        else {
            "lesson_location": place.location,
            "suspend_data": place.suspend_data,
            "lesson_status": SCORM_STATUS.get(progress.status, "incomplete"),
        },
    }
    response = render(
        request, "space_scorm.html", "space-scorm", data, lang=lang, course=course.package
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def setup_space_learning(app: web.Application) -> None:
    app.router.add_get("/space/learning/{module_id}", module_page, name="space_learning")
