"""The services a signalling app runs on, held under one typed AppKey (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from signalling.bus import Bus
from signalling.clock import Clock
from signalling.keys import KeyRing
from signalling.settings import Settings
from signalling.store import Store
from signalling.tokens import TokenIssuer, TokenVerifier


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    bus: Bus
    keyring: KeyRing
    issuer: TokenIssuer
    verifier: TokenVerifier


SERVICES = web.AppKey("services", Services)
