"""E-learning over HTTP: the jobseeker takes modules from the space, caseworkers recommend
them and follow progress in the console. Every step is an xAPI statement (recorded and
audited by `signalling.learning.recorder`); recommendations and exports are audited too.

Space (the device's space session; POSTs carry the space's X-CSRF-Token):
- `GET  /api/space/learning`                                 modules with my progress
- `GET  /api/space/learning/{module}`                        my progress in one module
- `POST /api/space/learning/{module}/launch`                 opened: {resume}
- `POST /api/space/learning/{module}/resume`                 {section}: come back here
- `POST /api/space/learning/{module}/sections/{section}/experienced`   gone through: {next}
- `POST /api/space/learning/{module}/sections/{section}/answers`       {question, choices}
- `POST /api/space/learning/{module}/finish`                 completed, passed or failed
- `GET  /learning/media/{module}/{name}`                     a module's video or captions

Staff:
- `GET    /api/learning/modules`                             the catalog
- `GET    /api/learning/modules/{module}/learners`           who it is recommended to, who is behind
- `GET    /api/profiles/{id}/learning`                       progress per module, attendance
- `POST   /api/profiles/{id}/learning/recommendations`       {module, due?}
- `DELETE /api/profiles/{id}/learning/recommendations/{module}`
- `GET    /api/profiles/{id}/learning/statements`            xAPI export (audited)

Imported SCORM 1.2 courses (`signalling.http.scorm_api`) are listed, recommended, launched
and followed here like the other modules; their ids start with `scorm-`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from core.audit import Action
from core.contracts.errors import ErrorCode
from core.learning.records import Recommendation, ScormPackage
from core.learning.xapi import statement_result
from core.model import LANGUAGES, Profile
from signalling.auth.space import current_visit
from signalling.auth.staff import current_staff
from signalling.context import SERVICES
from signalling.http.api import ApiError, read_json, require_space, require_staff
from signalling.http.profiles_api import audit_staff, profile_in_path
from signalling.learning.behind import behind
from signalling.learning.catalog import Module, load_catalog
from signalling.learning.progress import ModuleProgress, Status
from signalling.learning.recorder import Learning, LearningError
from signalling.participation import participation
from web import MODULES_DIR

log = structlog.get_logger(__name__)


LEARNING = web.AppKey("learning", Learning)
MAX_CHOSEN = 8
_ERRORS = {
    "not_found": (404, ErrorCode.NOT_FOUND),
    "invalid": (400, ErrorCode.INVALID),
    "not_ready": (409, ErrorCode.CONFLICT),
    "full": (429, ErrorCode.RATE_LIMITED),
}


def _refused(exc: LearningError) -> ApiError:
    status, code = _ERRORS[exc.code]
    extra = {"field": exc.field} if exc.field else {}
    return ApiError(status, str(exc), code, **extra)


def _module(learning: Learning, module_id: str) -> Module:
    try:
        return learning.module(module_id)
    except LearningError as exc:
        raise _refused(exc) from None


def progress_view(progress: ModuleProgress) -> dict[str, Any]:
    """Progress as the API shows it (to the learner and to caseworkers)."""
    return {
        "status": str(progress.status),
        "started": progress.started,
        "completed": progress.completed,
        "passed": progress.status == Status.PASSED,
        "score": None if progress.score is None else round(progress.score, 4),
        "started_at": progress.started_at,
        "completed_at": progress.completed_at,
        "last_activity": progress.last_activity,
    }


def recommendation_view(r: Recommendation | None) -> dict[str, Any] | None:
    return None if r is None else {"due": r.due, "at": r.at}


# ---- the space --------------------------------------------------------------------------


async def _learner(request: web.Request) -> tuple[Profile, str]:
    """The profile of this device's space session, and the page's language."""
    visit = await require_space(request)
    chosen = request.query.get("lang")
    return visit.profile, chosen if chosen in LANGUAGES else visit.profile.lang


def _object(data: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object", ErrorCode.INVALID)
    unknown = set(data) - allowed
    if unknown:
        raise ApiError(400, f"unknown fields: {', '.join(sorted(unknown))}", ErrorCode.INVALID)
    return data


async def _empty_body(request: web.Request) -> None:
    """POSTs without a payload take no body or `{}`."""
    if request.can_read_body:
        _object(await read_json(request), set())


def module_card(
    module: Module,
    lang: str,
    progress: ModuleProgress,
    recommendation: Recommendation | None,
) -> dict[str, Any]:
    return {
        "id": module.id,
        "kind": "module",
        "title": module.title_in(lang),
        "summary": module.summary_in(lang),
        "minutes": module.minutes,
        "languages": list(module.languages),
        "sections": len(module.sections),
        "progress": progress_view(progress),
        "recommended": recommendation_view(recommendation),
    }


def scorm_card(
    package: ScormPackage,
    progress: ModuleProgress,
    recommendation: Recommendation | None,
) -> dict[str, Any]:
    """An imported SCORM course as a card: its title as the provider wrote it, no sections
    and no time estimate (the manifest says neither)."""
    return {
        "id": package.id,
        "kind": "scorm",
        "title": package.title,
        "summary": "",
        "minutes": None,
        "languages": [],
        "sections": None,
        "progress": progress_view(progress),
        "recommended": recommendation_view(recommendation),
    }


async def learning_cards(learning: Learning, profile: str, lang: str) -> list[dict[str, Any]]:
    """Every module and imported SCORM course with the profile's progress; recommended ones
    first (by due date)."""
    progress = await learning.all_progress(profile)
    recommended = {r.module: r for r in await learning.store.list_recommendations(profile)}
    cards = [
        module_card(m, lang, progress[m.id], recommended.get(m.id))
        for m in learning.catalog.modules.values()
    ]
    cards += [
        scorm_card(p, progress[p.id], recommended.get(p.id))
        for p in await learning.store.list_packages()
        if p.id in progress
    ]
    return sorted(
        cards,
        key=lambda c: (c["recommended"] is None, (c["recommended"] or {}).get("due") or "~"),
    )


async def space_modules(request: web.Request) -> web.Response:
    profile, lang = await _learner(request)
    learning = request.app[LEARNING]
    return web.json_response({"modules": await learning_cards(learning, profile.id, lang)})


async def space_module(request: web.Request) -> web.Response:
    profile, _ = await _learner(request)
    learning = request.app[LEARNING]
    module = _module(learning, request.match_info["module_id"])
    progress = await learning.progress(profile.id, module)
    view = progress_view(progress)
    view["resume"] = await learning.resume_section(profile.id, module)
    view["answered"] = sorted(progress.answers)
    return web.json_response({"module": module.id, "progress": view})


async def launch(request: web.Request) -> web.Response:
    profile, lang = await _learner(request)
    await _empty_body(request)
    try:
        resume = await request.app[LEARNING].launch(
            profile.id, request.match_info["module_id"], lang
        )
    except LearningError as exc:
        raise _refused(exc) from None
    return web.json_response({"resume": resume})


async def resume(request: web.Request) -> web.Response:
    profile, _ = await _learner(request)
    body = _object(await read_json(request), {"section"})
    section = body.get("section")
    if not isinstance(section, str):
        raise ApiError(400, "section must be a section id", ErrorCode.INVALID, field="section")
    try:
        await request.app[LEARNING].goto(profile.id, request.match_info["module_id"], section)
    except LearningError as exc:
        raise _refused(exc) from None
    return web.json_response({"resume": section})


async def experienced(request: web.Request) -> web.Response:
    profile, lang = await _learner(request)
    await _empty_body(request)
    try:
        following = await request.app[LEARNING].experience(
            profile.id, request.match_info["module_id"], request.match_info["section_id"], lang
        )
    except LearningError as exc:
        raise _refused(exc) from None
    return web.json_response({"next": following})


async def answer(request: web.Request) -> web.Response:
    profile, lang = await _learner(request)
    body = _object(await read_json(request), {"question", "choices"})
    question, choices = body.get("question"), body.get("choices")
    if not isinstance(question, str):
        raise ApiError(400, "question must be a question id", ErrorCode.INVALID, field="question")
    if (
        not isinstance(choices, list)
        or not 1 <= len(choices) <= MAX_CHOSEN
        or not all(isinstance(c, str) for c in choices)
    ):
        raise ApiError(400, "choices must list choice ids", ErrorCode.INVALID, field="choices")
    try:
        result = await request.app[LEARNING].answer(
            profile.id,
            request.match_info["module_id"],
            request.match_info["section_id"],
            question,
            choices,
            lang,
        )
    except LearningError as exc:
        raise _refused(exc) from None
    return web.json_response({"correct": result.correct, "feedback": result.feedback})


async def finish(request: web.Request) -> web.Response:
    profile, lang = await _learner(request)
    await _empty_body(request)
    try:
        progress = await request.app[LEARNING].finish(
            profile.id, request.match_info["module_id"], lang
        )
    except LearningError as exc:
        raise _refused(exc) from None
    return web.json_response({"progress": progress_view(progress)})


async def media(request: web.Request) -> web.StreamResponse:
    """A module's video or caption file, for a space session or a caseworker. Only files a
    manifest names are served (no path from the request reaches the file system)."""
    if await current_visit(request) is None and await current_staff(request) is None:
        raise web.HTTPNotFound()
    module = request.app[LEARNING].catalog.get(request.match_info["module_id"])
    path = None if module is None else module.media().get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    response = web.FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})
    if path.suffix == ".vtt":
        response.content_type = "text/vtt"
        response.charset = "utf-8"
    return response


# ---- staff ------------------------------------------------------------------------------


def _staff_lang(request: web.Request) -> str:
    chosen = request.query.get("lang")
    return chosen if chosen in LANGUAGES else "de"


async def catalog(request: web.Request) -> web.Response:
    await require_staff(request)
    learning = request.app[LEARNING]
    lang = _staff_lang(request)
    modules = [
        {
            "id": m.id,
            "version": m.version,
            "title": m.title_in(lang),
            "minutes": m.minutes,
            "languages": list(m.languages),
            "sections": len(m.sections),
            "questions": len(m.questions()),
        }
        for m in learning.catalog.modules.values()
    ]
    modules += [
        {
            "id": p.id,
            "kind": "scorm",
            "version": None,
            "title": p.title,
            "minutes": None,
            "languages": [],
            "sections": None,
            "questions": None,
        }
        for p in await learning.store.list_packages()
    ]
    return web.json_response({"modules": modules})


ATTENDANCE_DAYS = 180  # how far back the learning view counts appointments


async def profile_progress(request: web.Request) -> web.Response:
    """Per module: recommended (due), started, completed, passed, score, last activity; and
    the appointments of the last half year, attended or missed: regular participation at a
    glance."""
    await require_staff(request)
    profile = await profile_in_path(request)
    services = request.app[SERVICES]
    learning = request.app[LEARNING]
    cards = await learning_cards(learning, profile.id, _staff_lang(request))
    last = [c["progress"]["last_activity"] for c in cards if c["progress"]["last_activity"]]
    now = services.clock.now()
    appointments = await services.appointments.list_appointments(
        starts_after=now - ATTENDANCE_DAYS * 86400, starts_before=now, profile_id=profile.id
    )
    events = {a.id: await services.appointments.list_attendance(a.id) for a in appointments}
    return web.json_response(
        {
            "profile": profile.id,
            "last_activity": max(last, default=None),
            "modules": cards,
            "attendance": {
                "days": ATTENDANCE_DAYS,
                **participation(appointments, events, profile.id, now).view(),
            },
        }
    )


async def module_learners(request: web.Request) -> web.Response:
    """Everyone a module is recommended to, with their progress and whether (and why) they
    are behind; those behind first, then by due date."""
    user = await require_staff(request)
    services = request.app[SERVICES]
    learning = request.app[LEARNING]
    module_id = request.match_info["module_id"]
    if len(module_id) > 64 or not await learning.exists(module_id):
        raise ApiError(404, "no such module", ErrorCode.NOT_FOUND)
    now = services.clock.now()
    today = dt.datetime.fromtimestamp(now, ZoneInfo(services.settings.timezone)).date()
    course = learning.catalog.get(module_id) or await learning.scorm_course(module_id)
    learners: list[tuple[bool, str, dict[str, Any]]] = []
    for r in await learning.store.module_recommendations(module_id):
        profile = await services.profiles.get_profile(r.profile)
        if profile is None:  # erased since: its recommendations go with it
            continue
        progress = await learning.progress(profile.id, course)
        reason = behind(r, progress, today, now)
        view = {
            "profile": profile.id,
            "name": profile.name,
            "recommended": recommendation_view(r),
            "progress": progress_view(progress),
            "behind": reason.value if reason else None,
        }
        learners.append((reason is None, r.due or "~", view))
    learners.sort(key=lambda x: x[:2])
    log.info("learning_learners_listed", module=module_id, staff=user.username, count=len(learners))
    return web.json_response(
        {
            "module": module_id,
            "learners": [view for _, _, view in learners],
            "behind": sum(not fine for fine, _, _ in learners),
        }
    )


def _due(value: Any, today: dt.date) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 10:
        raise ApiError(400, "due must be a date (YYYY-MM-DD)", ErrorCode.INVALID, field="due")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400, "due must be a date (YYYY-MM-DD)", ErrorCode.INVALID, field="due"
        ) from None
    if day < today or day > today + dt.timedelta(days=731):
        raise ApiError(400, "due must be today or within two years", ErrorCode.INVALID, field="due")
    return day.isoformat()


async def recommend(request: web.Request) -> web.Response:
    user = await require_staff(request)
    profile = await profile_in_path(request)
    services = request.app[SERVICES]
    learning = request.app[LEARNING]
    body = _object(await read_json(request), {"module", "due"})
    module_id = body.get("module")
    if not isinstance(module_id, str) or not await learning.exists(module_id):
        raise ApiError(400, "module must be a module id", ErrorCode.INVALID, field="module")
    now = services.clock.now()
    today = dt.datetime.fromtimestamp(now, ZoneInfo(services.settings.timezone)).date()
    recommendation = Recommendation(
        profile.id, module_id, user.username, now, _due(body.get("due"), today)
    )
    await learning.store.put_recommendation(recommendation)
    await audit_staff(
        services,
        user.username,
        Action.LEARNING_RECOMMEND,
        profile.id,
        module=module_id,
        change="recommend",
    )
    log.info("learning_recommended", profile=profile.id, module=module_id, staff=user.username)
    return web.json_response(
        {"module": module_id, "recommended": recommendation_view(recommendation)}, status=201
    )


async def withdraw(request: web.Request) -> web.Response:
    user = await require_staff(request)
    profile = await profile_in_path(request)
    services = request.app[SERVICES]
    module_id = request.match_info["module_id"]
    if not await request.app[LEARNING].store.delete_recommendation(profile.id, module_id):
        raise ApiError(404, "no such recommendation", ErrorCode.NOT_FOUND)
    await audit_staff(
        services,
        user.username,
        Action.LEARNING_RECOMMEND,
        profile.id,
        module=module_id,
        change="withdraw",
    )
    return web.json_response({}, status=200)


async def export(request: web.Request) -> web.Response:
    """The profile's statements as an xAPI StatementResult, for a learning record store."""
    user = await require_staff(request)
    profile = await profile_in_path(request)
    services = request.app[SERVICES]
    statements = await request.app[LEARNING].export(profile.id)
    await audit_staff(
        services, user.username, Action.LEARNING_EXPORT, profile.id, statements=len(statements)
    )
    log.info("learning_exported", profile=profile.id, staff=user.username, count=len(statements))
    return web.json_response(
        statement_result(statements),
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="xapi-{profile.id}.json"',
            "X-Experience-API-Version": "1.0.3",
        },
    )


def setup_learning_api(app: web.Application) -> None:
    """Load the module catalog and add the e-learning routes."""
    services = app[SERVICES]
    folder = services.settings.learning_modules_dir or MODULES_DIR
    app[LEARNING] = Learning(
        load_catalog(folder),
        services.learning,
        services.documents.audit,
        services.clock,
        services.settings.base_url(),
    )
    r = app.router
    space = "/api/space/learning/{module_id}"
    r.add_get("/api/space/learning", space_modules)
    r.add_get(space, space_module)
    r.add_post(f"{space}/launch", launch)
    r.add_post(f"{space}/resume", resume)
    r.add_post(space + "/sections/{section_id}/experienced", experienced)
    r.add_post(space + "/sections/{section_id}/answers", answer)
    r.add_post(f"{space}/finish", finish)
    r.add_get("/learning/media/{module_id}/{name:.+}", media)
    staff = "/api/profiles/{profile_id}/learning"
    r.add_get("/api/learning/modules", catalog)
    r.add_get("/api/learning/modules/{module_id}/learners", module_learners)
    r.add_get(staff, profile_progress)
    r.add_post(f"{staff}/recommendations", recommend)
    r.add_delete(staff + "/recommendations/{module_id}", withdraw)
    r.add_get(f"{staff}/statements", export)
