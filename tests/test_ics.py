"""Calendar files (RFC 5545): escaping, folding at 75 octets, UTC times, and the endpoint in
the space (own appointments only)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.ics import CalendarEvent, calendar, escape_text, fold, utc_stamp
from tests.test_space import device, open_link, set_up

Client = TestClient[Any, Any]


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_text_is_escaped() -> None:
    assert escape_text("a\\b;c,d\ne\r\nf") == "a\\\\b\\;c\\,d\\ne\\nf"
    assert escape_text("x\x00y\x7fz\tw") == "xyz\tw"
    assert escape_text("Beratung: Ort") == "Beratung: Ort"  # a colon needs no escape in TEXT


def test_times_are_utc() -> None:
    assert utc_stamp(1_800_000_000.5) == "20270115T080000Z"


@pytest.mark.parametrize("text", ["x" * 200, "مقابلة عمل " * 20, "ü" * 100, "a" + "😀" * 40])
def test_lines_fold_at_75_octets_without_splitting_a_character(text: str) -> None:
    folded = fold("SUMMARY:" + text)
    lines = folded.split("\r\n")
    assert all(len(line.encode()) <= 75 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    assert folded.replace("\r\n ", "") == "SUMMARY:" + text


def test_a_calendar_with_one_event() -> None:
    event = CalendarEvent(
        uid="a_1@example.org",
        starts_at=1_800_000_000,
        ends_at=1_800_001_800,
        summary="Gespräch; Büro, 2. Stock",
        url="https://example.org/space/join/a_1",
    )
    text = calendar(event, now=1_799_000_000)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = unfold(text)
    assert lines[:2] == ["BEGIN:VCALENDAR", "VERSION:2.0"]
    assert "UID:a_1@example.org" in lines
    assert "DTSTART:20270115T080000Z" in lines and "DTEND:20270115T083000Z" in lines
    assert "SUMMARY:Gespräch\\; Büro\\, 2. Stock" in lines
    assert "STATUS:CONFIRMED" in lines
    assert lines[-2:] == ["END:VCALENDAR", ""]


@pytest.fixture
def backend_kind() -> str:
    return "memory"


async def test_the_space_serves_its_own_appointments_only(
    staff: Client, fake_clock: FakeClock
) -> None:
    first = await set_up(staff, fake_clock.now() + 3600)
    tablet = await device(staff)
    try:
        await open_link(tablet, first["path"])
        appointment = first["appointment"]
        resp = await tablet.get(f"/space/appointments/{appointment['id']}/calendar.ics")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/calendar; charset=utf-8"
        assert resp.headers["Content-Disposition"].startswith("attachment")
        lines = unfold(await resp.text())
        assert f"DTSTART:{utc_stamp(appointment['starts_at'])}" in lines
        assert f"DTEND:{utc_stamp(appointment['ends_at'])}" in lines
        assert "SUMMARY:Beratung Ayşe" in lines
        assert not any("Becker" in line for line in lines)  # nobody else's name
        html = await (await tablet.get("/space")).text()
        assert f"/space/appointments/{appointment['id']}/calendar.ics" in html

        second = await set_up(staff, fake_clock.now() + 7200)
        other = second["appointment"]["id"]
        resp = await tablet.get(f"/space/appointments/{other}/calendar.ics")
        assert (resp.status, (await resp.json())["code"]) == (404, "not_found")
        resp = await tablet.get(f"/space/appointments/{'x' * 100}/calendar.ics")
        assert resp.status == 404
        stranger = await device(staff)
        try:
            resp = await stranger.get(f"/space/appointments/{appointment['id']}/calendar.ics")
            assert (resp.status, (await resp.json())["code"]) == (401, "space_signed_out")
        finally:
            await stranger.close()
    finally:
        await tablet.close()
