"""Issue 10, item 6: a token minted from a link in the same second as its reissue must die with
the link, and no refresh may carry it past the reissue."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.contracts.client import CloseCode
from core.model import Appointment, Participant
from signalling.appointments import reissue, shut_out, token_void
from signalling.auth.keys import ensure_keyring
from signalling.auth.tokens import TokenIssuer
from signalling.context import Services
from tests.harness import RoomClient, join_token, schedule_now

Client = TestClient[Any, Any]


def test_same_second_tokens_die_with_their_link(tmp_path: Any) -> None:
    clock = FakeClock(start=1_900_000_000.0)
    issuer = TokenIssuer(ensure_keyring(tmp_path / "keys", clock), clock, "lippejob")
    old = Participant("p1", "jobseeker", "J", "de", "hash-of-old-code")
    appointment_end = clock.now() + 3600
    clock.advance(0.1)
    _, before = issuer.mint("a1", old, appointment_end)
    clock.advance(0.5)  # the reissue, in the same whole second as the mint

    appointment = Appointment("a1", "t", clock.now(), appointment_end, False, (old,), "x", 0.0)
    reissued, _code = reissue(appointment, "p1", clock.now())
    new = reissued.participants[0]
    assert before.iat == int(clock.now())  # same second: time alone cannot tell them apart
    assert token_void(new, before)
    # A refresh that read the participant just before the reissue mints from the old link:
    # that token is void too, whenever it is used.
    clock.advance(0.2)
    _, raced = issuer.mint("a1", old, appointment_end)
    assert token_void(new, raced)
    _, fresh = issuer.mint("a1", new, appointment_end)
    assert not token_void(new, fresh)
    removed = shut_out(reissued, "p1", clock.now()).participants[0]
    assert token_void(removed, fresh)


async def _reissue(client: Client, call: dict[str, Any], role: str) -> str:
    aid, pid = call["appointment"]["id"], call["ids"][role]
    resp = await client.post(
        f"/api/appointments/{aid}/participants/{pid}/reissue",
        headers={"X-CSRF-Token": call["csrf"]},
    )
    assert resp.status == 200
    return str((await resp.json())["url"].rsplit("/j/", 1)[1])


async def test_old_link_token_of_the_reissue_second_is_refused(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await schedule_now(client, fake_clock.now(), waiting_room=False)
    fake_clock.advance(0.1)
    leaked = await join_token(client, call["codes"]["jobseeker"])  # from the old link
    fake_clock.advance(0.5)  # same whole second
    new_code = await _reissue(client, call, "jobseeker")
    stale = await RoomClient.connect(client, leaked)
    assert await stale.closed() == CloseCode.AUTH_FAILED
    assert stale.close_reason == "token revoked"
    # The new link, in that same second, works.
    fresh = await RoomClient.connect(client, await join_token(client, new_code))
    await fresh.expect("hello")
    await fresh.close()


async def test_refresh_stops_at_a_reissue_even_before_the_kick_arrives(
    client: Client, services: Services, fake_clock: FakeClock
) -> None:
    call = await schedule_now(client, fake_clock.now(), waiting_room=False)
    fake_clock.advance(0.1)
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("hello")
    # The link changes in the store (as another node's reissue would) in the same second;
    # the socket has not been told yet. It must get no fresh token.
    fake_clock.advance(0.3)
    appointment = await services.appointments.get_appointment(call["appointment"]["id"])
    assert appointment is not None
    updated, _code = reissue(appointment, call["ids"]["jobseeker"], fake_clock.now())
    await services.appointments.put_appointment(updated)
    await js.send({"type": "token"})
    assert await js.closed() == CloseCode.AUTH_FAILED
    assert js.close_reason == "token revoked"
    assert not any(m.get("type") == "token" for m in js.received)
