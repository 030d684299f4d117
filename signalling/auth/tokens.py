"""Room tokens: short-lived Ed25519 JWTs (DESIGN.md, "Room tokens (JWT)").

A token is a bearer secret: it never goes into a URL, a log line or an exception message.
Revocation by `jti` is the caller's job (it checks the store); this module only checks what the
token itself proves.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal, get_args

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.clock import Clock
from core.model import ROLES, Grants, Media, Participant, grants_for
from signalling.auth.invites import link_id
from signalling.auth.keys import KeyRing

ALGORITHM = "EdDSA"
AUDIENCE = "room"
MAX_LIFETIME = 600  # seconds; DESIGN.md caps a room token at ten minutes
# Ours are well under 1 KiB; the bound keeps a hostile client from making us parse megabytes.
MAX_TOKEN_LENGTH = 4096

TokenErrorReason = Literal[
    "malformed",
    "bad_algorithm",
    "unknown_key",
    "bad_signature",
    "bad_issuer",
    "bad_audience",
    "bad_lifetime",
    "expired",
    "not_yet_valid",
    "wrong_room",
]

_STR_CLAIMS = ("iss", "aud", "sub", "room", "role", "name", "lang", "jti", "lnk")
_INT_CLAIMS = ("iat", "nbf", "exp")
_CLAIMS = frozenset((*_STR_CLAIMS, *_INT_CLAIMS, "grants"))
_GRANT_KEYS = frozenset(f.name for f in fields(Grants))
_MEDIA: frozenset[str] = frozenset(get_args(Media))


class TokenError(Exception):
    """A token was refused; `reason` is a short machine code (see TokenErrorReason)."""

    def __init__(self, reason: TokenErrorReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: TokenErrorReason = reason


@dataclass(frozen=True)
class RoomClaims:
    """The claims of a room token, as DESIGN.md lists them."""

    iss: str
    aud: str
    sub: str  # participant id
    room: str  # appointment id
    role: str
    grants: Grants
    name: str = field(repr=False)  # names never reach a log line, not even through a repr
    lang: str
    iat: int
    nbf: int
    exp: int
    jti: str
    lnk: str  # the link it was minted from (signalling.auth.invites.link_id)

    def to_jwt_payload(self) -> dict[str, Any]:
        return {
            "iss": self.iss,
            "aud": self.aud,
            "sub": self.sub,
            "room": self.room,
            "role": self.role,
            "grants": self.grants.to_dict(),
            "name": self.name,
            "lang": self.lang,
            "iat": self.iat,
            "nbf": self.nbf,
            "exp": self.exp,
            "jti": self.jti,
            "lnk": self.lnk,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> RoomClaims:
        """Parse a decoded payload strictly; raise ValueError on anything unexpected."""
        missing = _CLAIMS - payload.keys()
        if missing:
            raise ValueError(f"missing claims: {', '.join(sorted(missing))}")
        unknown = payload.keys() - _CLAIMS
        if unknown:
            raise ValueError(f"unknown claims: {', '.join(sorted(map(str, unknown)))}")
        for name in _STR_CLAIMS:
            value = payload[name]
            # Only the display name may be empty; ids and codes never are.
            if not isinstance(value, str) or (name != "name" and not value):
                raise ValueError(f"claim {name} must be a non-empty string")
        for name in _INT_CLAIMS:
            value = payload[name]
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"claim {name} must be an integer")
        if payload["role"] not in ROLES:
            raise ValueError("claim role is not a known role")
        raw_grants = payload["grants"]
        if not isinstance(raw_grants, dict) or raw_grants.keys() != _GRANT_KEYS:
            raise ValueError("claim grants must hold exactly the known grants")
        grants = Grants.from_dict(raw_grants)
        if not set(grants.publish) <= _MEDIA:
            raise ValueError("claim grants.publish names unknown media")
        return cls(
            iss=payload["iss"],
            aud=payload["aud"],
            sub=payload["sub"],
            room=payload["room"],
            role=payload["role"],
            grants=grants,
            name=payload["name"],
            lang=payload["lang"],
            iat=payload["iat"],
            nbf=payload["nbf"],
            exp=payload["exp"],
            jti=payload["jti"],
            lnk=payload["lnk"],
        )


class TokenIssuer:
    """Mints room tokens with the key ring's current key."""

    def __init__(
        self, keyring: KeyRing, clock: Clock, issuer: str, ttl: int = MAX_LIFETIME
    ) -> None:
        if not 0 < ttl <= MAX_LIFETIME:
            raise ValueError(f"token ttl must be between 1 and {MAX_LIFETIME} seconds")
        if not issuer:
            raise ValueError("issuer must not be empty")
        self._keyring = keyring
        self._clock = clock
        self._issuer = issuer
        self._ttl = ttl

    def mint(
        self, appointment_id: str, participant: Participant, not_after: float
    ) -> tuple[str, RoomClaims]:
        """A token for `participant` in `appointment_id`, dying at `not_after` at the latest."""
        now = self._clock.now()
        if not_after <= now:
            raise ValueError("not_after is not in the future")
        iat = math.floor(now)
        # Floor, not round: the token must never outlive the window it was minted for.
        exp = min(iat + self._ttl, math.floor(not_after))
        if exp <= iat:
            raise ValueError("not_after leaves no whole second of validity")
        claims = RoomClaims(
            iss=self._issuer,
            aud=AUDIENCE,
            sub=participant.id,
            room=appointment_id,
            role=participant.role,
            grants=grants_for(participant.role),
            name=participant.name,
            lang=participant.lang,
            iat=iat,
            nbf=iat,
            exp=exp,
            jti=secrets.token_urlsafe(16),  # 128 random bits
            lnk=link_id(participant.invite_hash),
        )
        token = jwt.encode(
            claims.to_jwt_payload(),
            self._keyring.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self._keyring.current_kid},
        )
        return token, claims


class TokenVerifier:
    """Checks room tokens against public keys only, with time from the injected clock.

    `public_keys` is copied: after a rotation, build a new verifier from the new ring.
    """

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey],
        clock: Clock,
        issuer: str,
        leeway: int = 0,
    ) -> None:
        if leeway < 0:
            raise ValueError("leeway must not be negative")
        if not issuer:
            raise ValueError("issuer must not be empty")
        self._keys: Mapping[str, Ed25519PublicKey] = MappingProxyType(dict(public_keys))
        self._clock = clock
        self._issuer = issuer
        self._leeway = leeway

    def verify(self, token: str, *, room: str | None = None) -> RoomClaims:
        """The token's claims if it is valid now (and for `room`, if given); else TokenError."""
        claims = self._decode(token)
        if claims.iss != self._issuer:
            raise TokenError("bad_issuer")
        if claims.aud != AUDIENCE:
            raise TokenError("bad_audience")
        if not 0 < claims.exp - claims.iat <= MAX_LIFETIME:
            raise TokenError("bad_lifetime", f"lifetime must be 1..{MAX_LIFETIME} seconds")
        now = self._clock.now()
        # RFC 7519: the token must not be accepted on or after exp.
        if now >= claims.exp + self._leeway:
            raise TokenError("expired")
        if claims.nbf > now + self._leeway or claims.iat > now + self._leeway:
            raise TokenError("not_yet_valid")
        if room is not None and claims.room != room:
            raise TokenError("wrong_room")
        return claims

    def _decode(self, token: str) -> RoomClaims:
        """Signature and structure; time and audience are checked by the caller."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("malformed", "not a token of acceptable size")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("malformed", "undecodable header") from None
        # The header only picks the key; the algorithm is pinned below regardless of it.
        # Checking it here just gives a precise reason for "none" and HS256 confusion attempts.
        if header.get("alg") != ALGORITHM:
            raise TokenError("bad_algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise TokenError("unknown_key")
        try:
            payload = jwt.decode(
                token,
                self._keys[kid],
                algorithms=[ALGORITHM],
                # PyJWT's time checks read time.time(); ours read the injected clock. The
                # claim checks are ours too, so each refusal has one precise reason.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidSignatureError:  # a DecodeError subclass: must come first
            raise TokenError("bad_signature") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError("bad_algorithm") from None
        except jwt.PyJWTError:
            raise TokenError("malformed", "undecodable token") from None
        try:
            return RoomClaims.from_payload(payload)
        except ValueError as exc:
            raise TokenError("malformed", str(exc)) from None
