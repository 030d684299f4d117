"""Room tokens: minting, and one test per way a token must be refused."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from core.clock import FakeClock
from core.model import Participant, grants_for
from signalling.auth.keys import KeyRing, ensure_keyring, generate_key, load_keyring
from signalling.auth.tokens import (
    MAX_LIFETIME,
    RoomClaims,
    TokenError,
    TokenIssuer,
    TokenVerifier,
)

ISSUER = "lippejob-test"
ROOM = "appt-1"
NAME = "Ay\u015fe Y\u0131lmaz"  # non-ASCII on purpose: it must survive the JSON round trip


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _parts(token: str) -> tuple[str, str, str]:
    header, payload, signature = token.split(".")
    return header, payload, signature


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keyring(tmp_path: Path, clock: FakeClock) -> KeyRing:
    return ensure_keyring(tmp_path / "keys", clock)


@pytest.fixture
def issuer(keyring: KeyRing, clock: FakeClock) -> TokenIssuer:
    return TokenIssuer(keyring, clock, ISSUER)


@pytest.fixture
def verifier(keyring: KeyRing, clock: FakeClock) -> TokenVerifier:
    return TokenVerifier(keyring.public_keys, clock, ISSUER)


@pytest.fixture
def participant() -> Participant:
    return Participant(
        id="p-jobseeker", role="jobseeker", name=NAME, lang="tr", invite_hash="00" * 32
    )


def _mint(
    issuer: TokenIssuer, clock: FakeClock, participant: Participant
) -> tuple[str, RoomClaims]:
    return issuer.mint(ROOM, participant, not_after=clock.now() + 3600)


def _sign(keyring: KeyRing, payload: dict[str, Any], **header: Any) -> str:
    """A correctly signed token with arbitrary claims: isolates the claim checks."""
    return jwt.encode(
        payload,
        keyring.private_key,
        algorithm="EdDSA",
        headers={"kid": keyring.current_kid, **header},
    )


def _claims_payload(
    issuer: TokenIssuer, clock: FakeClock, participant: Participant, **changes: Any
) -> dict[str, Any]:
    _, claims = _mint(issuer, clock, participant)
    payload = claims.to_jwt_payload()
    payload.update(changes)
    return payload


def _reason(verifier: TokenVerifier, token: str, *, room: str | None = None) -> str:
    with pytest.raises(TokenError) as info:
        verifier.verify(token, room=room)
    return info.value.reason


# --- minting and the happy path -----------------------------------------------------------------


def test_minted_token_verifies(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
) -> None:
    token, claims = _mint(issuer, clock, participant)

    assert verifier.verify(token, room=ROOM) == claims
    assert verifier.verify(token) == claims
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == keyring.current_kid
    now = int(clock.now())
    assert (claims.iss, claims.aud, claims.sub, claims.room) == (
        ISSUER,
        "room",
        "p-jobseeker",
        ROOM,
    )
    assert (claims.role, claims.name, claims.lang) == ("jobseeker", NAME, "tr")
    assert claims.grants == grants_for("jobseeker")
    assert claims.iat == claims.nbf == now
    assert claims.exp == now + MAX_LIFETIME


def test_jti_is_random_and_long(
    issuer: TokenIssuer, clock: FakeClock, participant: Participant
) -> None:
    jtis = {_mint(issuer, clock, participant)[1].jti for _ in range(20)}

    assert len(jtis) == 20
    # token_urlsafe(16): 16 random bytes are 22 base64url characters.
    assert all(len(base64.urlsafe_b64decode(j + "==")) == 16 for j in jtis)


@pytest.mark.parametrize("role", ["caseworker", "jobseeker", "employer"])
def test_grants_follow_the_role(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    clock: FakeClock,
    participant: Participant,
    role: str,
) -> None:
    token, _ = _mint(issuer, clock, dataclasses.replace(participant, role=role))

    assert verifier.verify(token).grants == grants_for(role)


def test_exp_is_capped_by_not_after(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    now = clock.now()
    token, claims = issuer.mint(ROOM, participant, not_after=now + 120.9)

    # Floored: the token never outlives the appointment window.
    assert claims.exp == int(now) + 120
    clock.advance(119)
    assert verifier.verify(token) == claims
    clock.advance(1)
    assert _reason(verifier, token) == "expired"


def test_shorter_ttl_is_honoured(
    keyring: KeyRing, clock: FakeClock, participant: Participant
) -> None:
    _, claims = TokenIssuer(keyring, clock, ISSUER, ttl=60).mint(
        ROOM, participant, not_after=clock.now() + 3600
    )

    assert claims.exp - claims.iat == 60


@pytest.mark.parametrize("ttl", [601, 3600, 0, -1])
def test_issuer_refuses_ttl_outside_ten_minutes(
    keyring: KeyRing, clock: FakeClock, ttl: int
) -> None:
    with pytest.raises(ValueError, match="ttl"):
        TokenIssuer(keyring, clock, ISSUER, ttl=ttl)


@pytest.mark.parametrize("offset", [0.0, -1.0, 0.5])
def test_mint_refuses_a_window_that_has_ended(
    issuer: TokenIssuer, clock: FakeClock, participant: Participant, offset: float
) -> None:
    clock.set(1_800_000_000.0)
    with pytest.raises(ValueError):
        issuer.mint(ROOM, participant, not_after=clock.now() + offset)


def test_time_comes_from_the_clock_not_the_system(
    keyring: KeyRing, participant: Participant
) -> None:
    # Both in 2001: by the system clock this token expired decades ago.
    clock = FakeClock(start=1_000_000_000.0)
    issuer = TokenIssuer(keyring, clock, ISSUER)
    verifier = TokenVerifier(keyring.public_keys, clock, ISSUER)
    token, claims = issuer.mint(ROOM, participant, not_after=clock.now() + 3600)

    assert verifier.verify(token) == claims


def test_token_and_name_stay_out_of_errors_and_reprs(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    token, claims = _mint(issuer, clock, participant)
    clock.advance(MAX_LIFETIME)
    with pytest.raises(TokenError) as info:
        verifier.verify(token)

    assert token not in str(info.value) and token not in repr(info.value)
    assert participant.name not in repr(claims)


# --- rotation ---------------------------------------------------------------------------------


def test_rotation_keeps_previous_key_for_one_generation(
    tmp_path: Path, clock: FakeClock, participant: Participant
) -> None:
    keys_dir = tmp_path / "keys"
    old_ring = ensure_keyring(keys_dir, clock)
    token, claims = TokenIssuer(old_ring, clock, ISSUER).mint(
        ROOM, participant, not_after=clock.now() + 3600
    )

    generate_key(keys_dir, clock)
    after_one = load_keyring(keys_dir)
    assert after_one.current_kid != old_ring.current_kid
    assert TokenVerifier(after_one.public_keys, clock, ISSUER).verify(token) == claims
    new_token, _ = TokenIssuer(after_one, clock, ISSUER).mint(
        ROOM, participant, not_after=clock.now() + 3600
    )
    assert jwt.get_unverified_header(new_token)["kid"] == after_one.current_kid

    generate_key(keys_dir, clock)
    after_two = TokenVerifier(load_keyring(keys_dir).public_keys, clock, ISSUER)
    assert _reason(after_two, token) == "unknown_key"
    assert after_two.verify(new_token).sub == participant.id


# --- refusals ---------------------------------------------------------------------------------


def test_expired(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    token, _ = _mint(issuer, clock, participant)
    clock.advance(MAX_LIFETIME - 0.001)
    verifier.verify(token)

    clock.advance(0.001)  # exactly exp: RFC 7519 says "on or after"
    assert _reason(verifier, token) == "expired"


def test_leeway_extends_expiry_by_that_much_only(
    keyring: KeyRing, issuer: TokenIssuer, clock: FakeClock, participant: Participant
) -> None:
    verifier = TokenVerifier(keyring.public_keys, clock, ISSUER, leeway=5)
    token, _ = _mint(issuer, clock, participant)
    clock.advance(MAX_LIFETIME + 4)
    verifier.verify(token)

    clock.advance(1)
    assert _reason(verifier, token) == "expired"


def test_not_yet_valid(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    token, _ = _mint(issuer, clock, participant)
    clock.advance(-30)

    assert _reason(verifier, token) == "not_yet_valid"


def test_iat_in_the_future_is_not_yet_valid(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
) -> None:
    now = int(clock.now())
    payload = _claims_payload(issuer, clock, participant, nbf=now - 10, iat=now + 60)

    assert _reason(verifier, _sign(keyring, payload)) == "not_yet_valid"


def test_wrong_audience(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
) -> None:
    payload = _claims_payload(issuer, clock, participant, aud="console")

    assert _reason(verifier, _sign(keyring, payload)) == "bad_audience"


def test_wrong_issuer(
    issuer: TokenIssuer, keyring: KeyRing, clock: FakeClock, participant: Participant
) -> None:
    token, _ = _mint(issuer, clock, participant)
    other = TokenVerifier(keyring.public_keys, clock, "another-deployment")

    assert _reason(other, token) == "bad_issuer"


def test_wrong_room(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    token, _ = _mint(issuer, clock, participant)

    assert _reason(verifier, token, room="appt-2") == "wrong_room"


def test_tampered_payload(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    token, claims = _mint(issuer, clock, participant)
    header, _, signature = _parts(token)
    promoted = dataclasses.replace(claims, role="caseworker", grants=grants_for("caseworker"))
    forged = f"{header}.{_segment(promoted.to_jwt_payload())}.{signature}"

    assert _reason(verifier, forged) == "bad_signature"


def test_tampered_signature(
    issuer: TokenIssuer, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    token, _ = _mint(issuer, clock, participant)
    header, payload, signature = _parts(token)
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    forged = f"{header}.{payload}.{_b64(bytes(raw))}"

    assert _reason(verifier, forged) == "bad_signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
    alg: str,
) -> None:
    _, claims = _mint(issuer, clock, participant)
    header = {"alg": alg, "typ": "JWT", "kid": keyring.current_kid}
    for signature in ("", _b64(b"x" * 64)):
        forged = f"{_segment(header)}.{_segment(claims.to_jwt_payload())}.{signature}"
        assert _reason(verifier, forged) == "bad_algorithm"


@pytest.mark.parametrize("key_form", ["raw", "pem"])
def test_hs256_signed_with_the_public_key(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
    key_form: str,
) -> None:
    """The classic confusion attack: the attacker knows the public key and uses it as an
    HMAC secret, hoping the verifier takes the algorithm from the header."""
    public = keyring.public_keys[keyring.current_kid]
    secret = (
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if key_form == "raw"
        else public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    _, claims = _mint(issuer, clock, participant)
    header = {"alg": "HS256", "typ": "JWT", "kid": keyring.current_kid}
    signing_input = f"{_segment(header)}.{_segment(claims.to_jwt_payload())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{_b64(mac)}"

    assert _reason(verifier, forged) == "bad_algorithm"


def test_hmac_signature_under_an_eddsa_header(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
) -> None:
    """Lying about the algorithm in the header does not help either."""
    public = keyring.public_keys[keyring.current_kid]
    secret = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    _, claims = _mint(issuer, clock, participant)
    header = {"alg": "EdDSA", "typ": "JWT", "kid": keyring.current_kid}
    signing_input = f"{_segment(header)}.{_segment(claims.to_jwt_payload())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()

    assert _reason(verifier, f"{signing_input}.{_b64(mac)}") == "bad_signature"


def test_unknown_kid(
    tmp_path: Path, verifier: TokenVerifier, clock: FakeClock, participant: Participant
) -> None:
    stranger = ensure_keyring(tmp_path / "stranger", clock)
    token, _ = _mint(TokenIssuer(stranger, clock, ISSUER), clock, participant)

    assert _reason(verifier, token) == "unknown_key"


def test_known_kid_but_other_key(
    tmp_path: Path,
    keyring: KeyRing,
    verifier: TokenVerifier,
    clock: FakeClock,
    participant: Participant,
) -> None:
    """A stranger's key under our kid: the kid picks the key, the signature still fails."""
    stranger = ensure_keyring(tmp_path / "stranger", clock)
    payload = _claims_payload(TokenIssuer(stranger, clock, ISSUER), clock, participant)
    token = jwt.encode(
        payload, stranger.private_key, algorithm="EdDSA", headers={"kid": keyring.current_kid}
    )

    assert _reason(verifier, token) == "bad_signature"


@pytest.mark.parametrize(
    ("kid", "reason"), [(None, "unknown_key"), ("", "unknown_key"), (42, "malformed")]
)
def test_missing_or_odd_kid(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
    kid: object,
    reason: str,
) -> None:
    payload = _claims_payload(issuer, clock, participant)
    header = {"alg": "EdDSA", "typ": "JWT"} if kid is None else {"alg": "EdDSA", "kid": kid}
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    signature = keyring.private_key.sign(signing_input.encode())

    assert _reason(verifier, f"{signing_input}.{_b64(signature)}") == reason


@pytest.mark.parametrize("lifetime", [MAX_LIFETIME + 1, 3600, 0, -5])
def test_lifetime_outside_ten_minutes(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
    lifetime: int,
) -> None:
    now = int(clock.now())
    payload = _claims_payload(issuer, clock, participant, exp=now + lifetime)

    assert _reason(verifier, _sign(keyring, payload)) == "bad_lifetime"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b", "....", "x" * 10_000])
def test_malformed(verifier: TokenVerifier, token: str) -> None:
    assert _reason(verifier, token) == "malformed"


@pytest.mark.parametrize(
    "changes",
    [
        {"room": None},  # removed below
        {"exp": "soon"},
        {"exp": True},
        {"iat": 1.5},
        {"sub": ""},
        {"role": "admin"},
        {"grants": {"publish": ["audio"]}},
        {"grants": {**grants_for("employer").to_dict(), "publish": ["audio", "smell"]}},
        {"grants": {**grants_for("employer").to_dict(), "admit": "yes"}},
        {"is_admin": True},
    ],
)
def test_signed_but_malformed_claims(
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    keyring: KeyRing,
    clock: FakeClock,
    participant: Participant,
    changes: dict[str, Any],
) -> None:
    payload = _claims_payload(issuer, clock, participant, **changes)
    if changes == {"room": None}:
        del payload["room"]

    assert _reason(verifier, _sign(keyring, payload)) == "malformed"


# --- claims -----------------------------------------------------------------------------------


def test_claims_round_trip(issuer: TokenIssuer, clock: FakeClock, participant: Participant) -> None:
    _, claims = _mint(issuer, clock, participant)

    assert RoomClaims.from_payload(claims.to_jwt_payload()) == claims
    assert claims.to_jwt_payload()["grants"] == grants_for("jobseeker").to_dict()


def test_claims_from_payload_rejects_missing_fields(
    issuer: TokenIssuer, clock: FakeClock, participant: Participant
) -> None:
    payload = _claims_payload(issuer, clock, participant)
    del payload["jti"]

    with pytest.raises(ValueError, match="missing claims: jti"):
        RoomClaims.from_payload(payload)


def test_verifier_copies_its_keys(
    tmp_path: Path, keyring: KeyRing, clock: FakeClock, participant: Participant
) -> None:
    keys = dict(keyring.public_keys)
    verifier = TokenVerifier(keys, clock, ISSUER)
    stranger = ensure_keyring(tmp_path / "stranger", clock)
    keys[stranger.current_kid] = stranger.public_keys[stranger.current_kid]
    token, _ = _mint(TokenIssuer(stranger, clock, ISSUER), clock, participant)

    assert _reason(verifier, token) == "unknown_key"
