"""The typed contracts of core.contracts: client messages, media worker requests, room channel
events and error codes. Each message serialises and parses back to itself, and bad input
(wrong types, missing fields, oversize SDP, unknown types, truncated frames) is rejected."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.bus.base import room_channel
from core.clock import FakeClock
from core.contracts import client as cm
from core.contracts import media, room
from core.contracts.errors import ErrorCode, error_message
from core.model import Grants
from signalling.context import Services
from tests.harness import RoomClient, join_token, schedule_now

ROOT = Path(__file__).resolve().parent.parent

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

# ---- client messages --------------------------------------------------------------------

CLIENT_MESSAGES: list[cm.ClientMessage] = [
    cm.Auth("eyJhbGciOiJFZERTQSJ9.e30.c2ln"),
    cm.Admit("p_1"),
    cm.Deny("p_2"),
    cm.Chat("hallo"),
    cm.LobbyMessage("Ich verspäte mich 5 Minuten"),
    cm.RefreshToken(),
    cm.Leave(),
    cm.End(),
    cm.Mute("screen", True),
    cm.Mute("video", True, missing=True),
    cm.Offer(SDP),
    cm.Offer(SDP, {"0": "audio", "1": "video", "2": "screen"}),
    cm.Answer(SDP),
    cm.Answer(SDP, seq=7),
    cm.Candidate("pub", None),
    cm.Candidate("sub", "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "0", 0),
    cm.Candidate("pub", ""),  # end of candidates, as a browser sends it
    cm.Panel("open", "folder"),
    cm.Panel("sync", "folder", {"page": 2}),
    cm.E2ee({"key": "abc"}),
    cm.E2ee({"key": "abc"}, to="p_3"),
    cm.MediaStatus("ok"),
    cm.MediaStatus("failed", "pub", ("new", "checking", "disconnected", "failed"), "failed"),
    cm.MediaStatus("failed", "sub", ("new",), "no_candidates"),
    cm.ShareConsent("d_" + "0" * 32, True),
    cm.ShareConsent("d_1", False),
    cm.View((("p_1", 720), ("p_2", 0))),
    cm.View(()),
]


@pytest.mark.parametrize("message", CLIENT_MESSAGES, ids=lambda m: type(m).__name__)
def test_client_messages_round_trip(message: cm.ClientMessage) -> None:
    wire = message.to_dict()
    assert wire["type"] == message.TYPE
    assert cm.parse_message(wire) == message
    assert cm.parse_client_message(json.dumps(wire)) == message


def test_every_client_type_has_a_fixture() -> None:
    assert {m.TYPE for m in CLIENT_MESSAGES} == cm.CLIENT_TYPES


# Frames as clients send them, kept byte for byte.
GOOD_FRAMES: list[tuple[str, cm.ClientMessage]] = [
    ('{"type":"auth","token":"t"}', cm.Auth("t")),
    ('{"type":"mute","kind":"audio","muted":false}', cm.Mute("audio", False)),
    ('{"type":"view","heights":{"p_b":240,"p_a":0}}', cm.View((("p_a", 0), ("p_b", 240)))),
    (
        '{"type":"candidate","pc":"pub","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 9 '
        'typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}}',
        cm.Candidate("pub", "candidate:1 1 udp 1 1.2.3.4 9 typ host", "0", 0),
    ),
    ('{"type":"offer","pc":"pub","sdp":"v=0\\r\\n","sources":null}', cm.Offer("v=0\r\n")),
    ('{"type":"e2ee","to":null,"data":{}}', cm.E2ee({})),
    (
        '{"type":"media_status","state":"failed","pc":"sub","history":["new"]}',
        cm.MediaStatus("failed", "sub", ("new",)),
    ),
]


@pytest.mark.parametrize(("frame", "expected"), GOOD_FRAMES)
def test_captured_frames_parse(frame: str, expected: cm.ClientMessage) -> None:
    assert cm.parse_client_message(frame) == expected


BAD_FRAMES: list[tuple[str, ErrorCode]] = [
    ("", ErrorCode.BAD_JSON),
    ('{"type":"chat","text":"hal', ErrorCode.BAD_JSON),  # truncated
    ('{"type":"offer","pc":"pub","sdp":"v=0\\r', ErrorCode.BAD_JSON),  # truncated in the SDP
    ('{"type":"chat","text":NaN}', ErrorCode.BAD_JSON),
    ("[" * 5000 + "]" * 5000, ErrorCode.BAD_JSON),
    ('["chat"]', ErrorCode.BAD_MESSAGE),
    ('"chat"', ErrorCode.BAD_MESSAGE),
    ('{"text":"no type"}', ErrorCode.BAD_MESSAGE),
    ('{"type":7}', ErrorCode.BAD_MESSAGE),
    ('{"type":"dance"}', ErrorCode.UNKNOWN_TYPE),
    ('{"type":"hello"}', ErrorCode.UNKNOWN_TYPE),  # a server message sent back
    ('{"type":"chat","text":"x","html":"<b>"}', ErrorCode.BAD_FIELD),
    ('{"type":"chat"}', ErrorCode.BAD_FIELD),
    ('{"type":"chat","text":"   "}', ErrorCode.BAD_FIELD),
    ('{"type":"lobby_message","text":"   "}', ErrorCode.BAD_FIELD),
    ('{"type":"lobby_message","text":"' + "x" * 301 + '"}', ErrorCode.TOO_LONG),
    ('{"type":"chat","text":5}', ErrorCode.BAD_FIELD),
    ('{"type":"auth","token":null}', ErrorCode.BAD_FIELD),
    ('{"type":"admit","participant":["p"]}', ErrorCode.BAD_FIELD),
    ('{"type":"mute","kind":"audio","muted":"yes"}', ErrorCode.BAD_FIELD),
    ('{"type":"mute","kind":"audio","muted":true,"missing":1}', ErrorCode.BAD_FIELD),
    ('{"type":"mute","kind":"video","muted":false,"missing":true}', ErrorCode.BAD_FIELD),
    ('{"type":"mute","kind":"files","muted":true}', ErrorCode.BAD_FIELD),
    ('{"type":"view"}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":[240]}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":{"p_1":-1}}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":{"p_1":4321}}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":{"p_1":240.5}}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":{"p_1":true}}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":{"p_1":"240"}}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":{"":240}}', ErrorCode.BAD_FIELD),
    ('{"type":"view","heights":{"' + "p" * 65 + '":240}}', ErrorCode.BAD_FIELD),
    (
        '{"type":"view","heights":{' + ",".join(f'"p{i}":1' for i in range(65)) + "}}",
        ErrorCode.BAD_FIELD,
    ),
    ('{"type":"offer","pc":"sub","sdp":"v=0"}', ErrorCode.BAD_FIELD),
    ('{"type":"offer","pc":"pub","sdp":""}', ErrorCode.BAD_FIELD),
    ('{"type":"offer","pc":"pub","sdp":"v=0","sources":{"0":"files"}}', ErrorCode.BAD_FIELD),
    ('{"type":"offer","pc":"pub","sdp":"v=0","sources":[]}', ErrorCode.BAD_FIELD),
    ('{"type":"answer","pc":"pub","sdp":"v=0"}', ErrorCode.BAD_FIELD),
    ('{"type":"answer","pc":"sub","sdp":"v=0","sources":{}}', ErrorCode.BAD_FIELD),
    ('{"type":"answer","pc":"sub","sdp":"v=0","seq":"1"}', ErrorCode.BAD_FIELD),
    ('{"type":"answer","pc":"sub","sdp":"v=0","seq":0}', ErrorCode.BAD_FIELD),
    ('{"type":"answer","pc":"sub","sdp":"v=0","seq":true}', ErrorCode.BAD_FIELD),
    ('{"type":"answer","pc":"sub","sdp":"v=0","seq":1.5}', ErrorCode.BAD_FIELD),
    ('{"type":"answer","pc":"sub","sdp":"v=0","seq":9007199254740993}', ErrorCode.BAD_FIELD),
    ('{"type":"candidate","pc":"both","candidate":null}', ErrorCode.BAD_FIELD),
    ('{"type":"candidate","pc":"pub","candidate":"candidate:1"}', ErrorCode.BAD_FIELD),
    ('{"type":"candidate","pc":"pub","candidate":{"sdpMid":"0"}}', ErrorCode.BAD_FIELD),
    (
        '{"type":"candidate","pc":"pub","candidate":{"candidate":"c","sdpMLineIndex":true}}',
        ErrorCode.BAD_FIELD,
    ),
    ('{"type":"panel","action":"open","panel":"f","state":null}', ErrorCode.BAD_FIELD),
    ('{"type":"panel","action":"burn","panel":"f"}', ErrorCode.BAD_FIELD),
    ('{"type":"e2ee","to":5,"data":{}}', ErrorCode.BAD_FIELD),
    ('{"type":"e2ee","data":"key"}', ErrorCode.BAD_FIELD),
    ('{"type":"media_status","state":"broken"}', ErrorCode.BAD_FIELD),
    ('{"type":"media_status"}', ErrorCode.BAD_FIELD),
    ('{"type":"media_status","state":"ok","pc":"both"}', ErrorCode.BAD_FIELD),
    ('{"type":"media_status","state":"failed","reason":"because"}', ErrorCode.BAD_FIELD),
    # States only: an address (or anything else) in the history is refused.
    ('{"type":"media_status","state":"failed","history":["127.0.0.1"]}', ErrorCode.BAD_FIELD),
    ('{"type":"media_status","state":"failed","history":"new"}', ErrorCode.BAD_FIELD),
    (
        '{"type":"media_status","state":"failed","history":' + '["new"' + ',"new"' * 32 + "]}",
        ErrorCode.BAD_FIELD,
    ),
    ('{"type":"media_status","state":"ok","ip":"10.0.0.1"}', ErrorCode.BAD_FIELD),
    ('{"type":"consent","document":"d_1"}', ErrorCode.BAD_FIELD),
    ('{"type":"consent","document":"d_1","allow":"yes"}', ErrorCode.BAD_FIELD),
    ('{"type":"consent","document":"","allow":true}', ErrorCode.BAD_FIELD),
    ('{"type":"consent","document":"d_1","allow":true,"for":"p_3"}', ErrorCode.BAD_FIELD),
    ('{"type":"consent","allow":false}', ErrorCode.BAD_FIELD),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
def test_bad_frames_are_rejected_with_their_code(frame: str, code: ErrorCode) -> None:
    with pytest.raises(cm.MessageError) as caught:
        cm.parse_client_message(frame)
    assert caught.value.code is code


def _sdp_of(size: int) -> str:
    return "v=0\r\n" + "a=x\r\n" * ((size - 5) // 5) + "x" * ((size - 5) % 5)


def test_one_sdp_limit_on_both_sides() -> None:
    largest = _sdp_of(cm.MAX_SDP)
    assert len(largest) == cm.MAX_SDP
    assert cm.parse_message(cm.Offer(largest).to_dict()) == cm.Offer(largest)
    # Still fits the server's WebSocket frame limit once JSON escapes its line ends.
    assert len(json.dumps(cm.Offer(largest).to_dict())) < 64 * 1024
    too_big = cm.Offer(largest + "x").to_dict()
    with pytest.raises(cm.MessageError) as caught:
        cm.parse_message(too_big)
    assert caught.value.code is ErrorCode.TOO_LONG
    # The media worker takes the same messages with the same limit.
    assert media.MAX_SDP == cm.MAX_SDP
    with pytest.raises(media.ProtocolError, match="longer than"):
        media.parse_op(media.Signal("r", "p", "c", cm.Offer(largest + "x")).to_dict())
    op = media.Signal("r", "p", "c", cm.Offer(largest))
    assert media.parse_op(op.to_dict()) == op


def test_oversize_fields_are_too_long() -> None:
    for wire in (
        {"type": "chat", "text": "x" * (cm.MAX_CHAT + 1)},
        {"type": "auth", "token": "x" * (cm.MAX_TOKEN + 1)},
        {"type": "admit", "participant": "p" * (cm.MAX_ID + 1)},
        {"type": "candidate", "pc": "pub", "candidate": {"candidate": "c" * 1025}},
    ):
        with pytest.raises(cm.MessageError) as caught:
            cm.parse_message(wire)
        assert caught.value.code is ErrorCode.TOO_LONG, wire["type"]
    for wire in (
        {"type": "panel", "action": "sync", "panel": "f", "state": {"s": "x" * cm.MAX_PANEL_STATE}},
        {"type": "e2ee", "data": {"k": "x" * cm.MAX_E2EE}},
    ):
        with pytest.raises(cm.MessageError) as caught:
            cm.parse_message(wire)
        assert caught.value.code is ErrorCode.BAD_FIELD


def test_a_panel_names_the_document_it_shows() -> None:
    assert cm.shown_document(cm.Panel("open", "folder", {"document": "d_1", "page": 2})) == "d_1"
    assert cm.shown_document(cm.Panel("close", "folder")) is None
    assert cm.shown_document(cm.Panel("sync", "module", {"page": 1})) is None
    for bad in (5, "", "d" * (cm.MAX_ID + 1)):
        with pytest.raises(cm.MessageError) as caught:
            cm.shown_document(cm.Panel("open", "folder", {"document": bad}))
        assert caught.value.code is ErrorCode.BAD_FIELD


def test_a_document_panel_shows_a_page_that_exists_at_a_sane_zoom() -> None:
    def view(state: dict[str, Any]) -> tuple[int, float]:
        return cm.document_view(cm.Panel("sync", "document", {"document": "d_1", **state}), 3)

    assert view({}) == (1, 1.0)
    assert view({"page": 3, "zoom": 1.5}) == (3, 1.5)
    assert view({"page": 1, "zoom": 2}) == (1, 2.0)
    for bad in (
        {"page": 0},
        {"page": 4},
        {"page": "2"},
        {"page": True},
        {"page": 1.5},
        {"zoom": 0},
        {"zoom": 5},
        {"zoom": "1"},
        {"zoom": False},
    ):
        with pytest.raises(cm.MessageError) as caught:
            view(bad)
        assert caught.value.code is ErrorCode.BAD_FIELD, bad


def test_the_servers_panel_messages() -> None:
    shown = cm.PanelShown("sync", "d_1", 2, 1.5, 3, "p_cw", consent=False)
    assert shown.to_dict() == {
        "type": "panel",
        "action": "sync",
        "panel": "document",
        "state": {"document": "d_1", "page": 2, "zoom": 1.5},
        "pages": 3,
        "consent": False,
        "from": "p_cw",
    }
    current = cm.PanelShown("open", "d_1", 2, 1.5, 3, "p_cw", consent=True, current=True)
    assert current.to_dict()["current"] is True
    assert cm.PanelClosed("p_cw").to_dict() == {
        "type": "panel",
        "action": "close",
        "panel": "document",
        "reason": "closed",
        "from": "p_cw",
    }
    assert cm.PanelClosed(None, "consent_withdrawn").to_dict()["reason"] == "consent_withdrawn"
    assert cm.ConsentRequest("d_1", "CV", 3, "p_cw", ("p_em",)).to_dict() == {
        "type": "consent_request",
        "document": "d_1",
        "title": "CV",
        "pages": 3,
        "by": "p_cw",
        "guests": ["p_em"],
    }
    assert cm.ConsentAnswer("d_1", False, "p_js").to_dict() == {
        "type": "consent",
        "document": "d_1",
        "allow": False,
        "from": "p_js",
    }
    assert cm.ConsentWithdrawn("d_1", "CV", "p_js", ("p_em",)).to_dict() == {
        "type": "consent_withdrawn",
        "document": "d_1",
        "title": "CV",
        "from": "p_js",
        "guests": ["p_em"],
    }


# ---- media worker requests --------------------------------------------------------------

OPS: list[media.Op] = [
    media.Join("r", "p", "c", "jobseeker", frozenset({"audio", "video"}), subscribe=False),
    media.Join("r", "p", "c"),
    media.Signal("r", "p", "c", cm.Offer(SDP, {"0": "audio"})),
    media.Signal("r", "p", "c", cm.Answer(SDP)),
    media.Signal("r", "p", "c", cm.Candidate("sub", "candidate:1 1 udp 1 1.2.3.4 9 typ host")),
    media.Signal("r", "p", "c", cm.Mute("video", True)),
    media.Signal("r", "p", "c", cm.View((("p_1", 360),))),
    media.Leave("r", "p", "c"),
    media.CloseRoom("r"),
]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.OP)
def test_media_ops_round_trip(op: media.Op) -> None:
    wire = op.to_dict()
    assert wire["op"] == op.OP
    assert media.parse_op(json.loads(json.dumps(wire))) == op


@pytest.mark.parametrize(
    "wire",
    [
        None,
        ["join"],
        {"room": "r"},
        {"op": "close_room"},
        {"op": "join", "room": "r", "participant": "p"},
        {"op": "join", "room": "r", "participant": "p", "conn": "c", "subscribe": "yes"},
        {"op": "join", "room": "r" * 201, "participant": "p", "conn": "c"},
        {"op": "signal", "room": "r", "participant": "p", "conn": "c"},
        {"op": "signal", "room": "r", "participant": "p", "conn": "c", "msg": "offer"},
        # Client messages that are not for the media worker.
        {"op": "signal", "room": "r", "participant": "p", "conn": "c", "msg": {"type": "leave"}},
        {
            "op": "signal",
            "room": "r",
            "participant": "p",
            "conn": "c",
            "msg": {"type": "chat", "text": "hi"},
        },
    ],
)
def test_bad_media_ops_are_rejected(wire: Any) -> None:
    with pytest.raises(media.ProtocolError):
        media.parse_op(wire)


def test_worker_replies() -> None:
    assert media.error_message(ErrorCode.ROOM_FULL, "full") == {
        "type": "error",
        "code": "room_full",
        "message": "full",
    }
    event = media.media_event("p", "c", media.answer_message(SDP))
    assert room.parse_event(event) == room.MediaReply(
        "p", "c", {"type": "answer", "pc": "pub", "sdp": SDP}
    )


# ---- room channel events ----------------------------------------------------------------

EVENTS: list[room.RoomEvent] = [
    room.Deliver({"type": "chat", "text": "hi"}),
    room.Deliver({"type": "lobby", "waiting": []}, to=("p1", "p2"), exclude="p0", grant="admit"),
    room.Deliver({"type": "host", "present": True}, waiting=True),
    room.RoomEnded(),
    room.Replaced("p", "c2"),
    room.Admitted("p", "c1"),
    room.Admitted("p", "c1", at=1_700_000_000.25),
    room.Denied("p"),
    room.Revoked("p"),
    room.MediaReply("p", "c", {"type": "error", "code": "media_moved", "message": "m"}),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.KIND)
def test_room_events_round_trip(event: room.RoomEvent) -> None:
    wire = event.to_dict()
    assert wire["kind"] == event.KIND
    assert room.parse_event(json.loads(json.dumps(wire))) == event


@pytest.mark.parametrize(
    "wire",
    [
        None,
        "end",
        {},
        {"kind": "explode"},
        {"kind": 3},
        {"kind": "deliver"},
        {"kind": "deliver", "msg": {"text": "no type"}},
        {"kind": "deliver", "msg": {"type": "chat"}, "to": "p1"},
        {"kind": "deliver", "msg": {"type": "chat"}, "to": [1]},
        {"kind": "deliver", "msg": {"type": "chat"}, "grant": "password"},
        {"kind": "deliver", "msg": {"type": "host"}, "waiting": "yes"},
        {"kind": "replace", "participant": "p"},
        {"kind": "admitted", "conn": "c"},
        {"kind": "admitted", "participant": "p", "conn": "c", "at": "now"},
        {"kind": "admitted", "participant": "p", "conn": "c", "at": True},
        {"kind": "denied", "participant": ""},
        {"kind": "revoked", "participant": None},
        {"kind": "media", "participant": "p", "conn": "c", "msg": "x"},
    ],
)
def test_bad_room_events_are_rejected(wire: Any) -> None:
    with pytest.raises(room.EventError):
        room.parse_event(wire)


def test_who_a_delivery_reaches() -> None:
    admitter, plain = Grants(admit=True), Grants()
    everyone = room.Deliver({"type": "chat"}, exclude="me")
    assert everyone.reaches("you", plain) and not everyone.reaches("me", plain)
    lobby = room.Deliver({"type": "lobby"}, grant="admit")
    assert lobby.reaches("cw", admitter) and not lobby.reaches("js", plain)
    direct = room.Deliver({"type": "e2ee"}, to=("you",))
    assert direct.reaches("you", plain) and not direct.reaches("other", plain)


async def test_a_garbled_room_event_is_dropped_and_the_room_goes_on(
    client: TestClient[Any, Any], services: Services, fake_clock: FakeClock
) -> None:
    call = await schedule_now(client, fake_clock.now(), waiting_room=False)
    cw, js = [
        await RoomClient.connect(client, await join_token(client, call["codes"][role]))
        for role in ("caseworker", "jobseeker")
    ]
    await cw.expect("hello")
    await js.expect("hello")
    channel = room_channel(call["appointment"]["id"])
    for garbage in ({"kind": "explode"}, {"kind": "deliver"}, {"kind": "media", "msg": 1}):
        await services.bus.publish(channel, garbage)
    await cw.send({"type": "chat", "text": "still here"})
    assert await js.expect("chat", text="still here")
    await cw.close()
    await js.close()


# ---- error codes ------------------------------------------------------------------------


def test_error_message() -> None:
    assert error_message(ErrorCode.TOO_LONG, "long") == {
        "type": "error",
        "code": "too_long",
        "message": "long",
    }
    assert json.dumps({"code": ErrorCode.BAD_JSON}) == '{"code": "bad_json"}'


LITERAL_CODE_PATTERNS = [
    re.compile(r'"code":\s*"([a-z_]+)"'),
    re.compile(r'ApiError\(\s*\d+,\s*(?:f?"[^"\n]*"|[\w.]+),\s*"([a-z_]+)"', re.S),
    re.compile(
        r'(?:MessageError|error_message|json_error)\(\s*(?:\d+,\s*"[^"\n]*",\s*)?"([a-z_]+)"'
    ),
]


def literal_codes(text: str) -> set[str]:
    return {code for pattern in LITERAL_CODE_PATTERNS for code in pattern.findall(text)}


def test_every_error_code_goes_through_the_enum() -> None:
    """No error code is written as a bare string: each comes from ErrorCode."""
    sample = 'raise ApiError(404, "no such thing", "not_found")\nMessageError("bad_field", "x")'
    assert literal_codes(sample) == {"not_found", "bad_field"}  # the scan itself still works
    found: dict[str, set[str]] = {}
    for folder in ("signalling", "mediaserver", "core"):
        for path in (ROOT / folder).rglob("*.py"):
            codes = literal_codes(path.read_text())
            if codes:
                found[str(path.relative_to(ROOT))] = codes
    assert not found, f"error codes written as literals: {found}"


def test_close_codes_are_stable() -> None:
    assert {c.name: int(c) for c in cm.CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "TRY_AGAIN": 1013,
        "BAD_MESSAGES": 4400,
        "AUTH_FAILED": 4401,
        "DENIED": 4403,
        "AUTH_TIMEOUT": 4408,
        "REPLACED": 4409,
        "ENDED": 4410,
        "SLOW": 4429,
        "LEFT": 4000,
        "NO_HEARTBEAT": 4002,
    }
