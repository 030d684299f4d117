"""The services a signalling app runs on, held under one typed AppKey (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from core.bus.base import Bus
from core.clock import Clock
from core.settings import Settings
from core.store.base import (
    AccountStore,
    AppointmentStore,
    DocumentStore,
    HelpStore,
    LearningStore,
    PresenceStore,
    ProfileStore,
    RegistryStore,
    Stores,
)
from signalling.auth.keys import KeyRing
from signalling.auth.tokens import TokenIssuer, TokenVerifier


@dataclass
class Services:
    settings: Settings
    clock: Clock
    appointments: AppointmentStore
    accounts: AccountStore
    presence: PresenceStore
    registry: RegistryStore
    profiles: ProfileStore
    documents: DocumentStore
    help: HelpStore
    learning: LearningStore
    bus: Bus
    keyring: KeyRing
    issuer: TokenIssuer
    verifier: TokenVerifier

    def stores(self) -> Stores:
        return Stores(
            self.appointments,
            self.accounts,
            self.presence,
            self.registry,
            self.profiles,
            self.documents,
            self.help,
            self.learning,
        )


SERVICES = web.AppKey("services", Services)
