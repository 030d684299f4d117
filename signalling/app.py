"""Wiring: services and routes into an aiohttp application."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

from aiohttp import web

from core.bus.base import Bus
from core.clock import Clock
from core.settings import Settings
from core.store.base import Stores
from signalling.auth.keys import KeyRing
from signalling.auth.tokens import TokenIssuer, TokenVerifier
from signalling.context import SERVICES, Services
from signalling.http.api import api_errors, setup_api
from signalling.http.attendance_api import setup_attendance_api
from signalling.http.calendar_files import setup_calendar_files
from signalling.http.call_documents import setup_call_documents
from signalling.http.call_learning import setup_call_learning
from signalling.http.client_address import TRUSTED_PROXIES, TrustedProxies
from signalling.http.console_socket import setup_console_socket
from signalling.http.documents_api import setup_documents_api
from signalling.http.help_api import setup_help_api
from signalling.http.host_join import setup_host_join_api
from signalling.http.learning_api import setup_learning_api
from signalling.http.lifecycle import DRAINING, Draining
from signalling.http.participants_api import setup_participants_api
from signalling.http.profiles_api import setup_profiles_api
from signalling.http.schedule_api import setup_schedule_api
from signalling.http.scorm_api import setup_scorm_api
from signalling.http.security import security_headers, setup_security
from signalling.metrics import METRICS, Metrics
from signalling.retention import retention_ctx
from signalling.room.hub import RoomHub
from signalling.room.media_router import MediaRouter
from signalling.room.ws import setup_ws


def build_services(
    settings: Settings, clock: Clock, stores: Stores, bus: Bus, keyring: KeyRing
) -> Services:
    return Services(
        settings=settings,
        clock=clock,
        appointments=stores.appointments,
        accounts=stores.accounts,
        presence=stores.presence,
        registry=stores.registry,
        profiles=stores.profiles,
        documents=stores.documents,
        help=stores.help,
        learning=stores.learning,
        bus=bus,
        keyring=keyring,
        issuer=TokenIssuer(keyring, clock, settings.issuer, settings.token_ttl),
        verifier=TokenVerifier(keyring.public_keys, clock, settings.issuer),
    )


def create_app(
    services: Services,
    *,
    reconnect_grace: float | None = None,
    close_services: bool = False,
    with_pages: bool = True,
) -> web.Application:
    """The signalling app. With `close_services`, the store and bus close with it;
    `reconnect_grace` overrides the setting of that name (for tests)."""
    app = web.Application(middlewares=[security_headers, api_errors], client_max_size=256 * 1024)
    app[SERVICES] = services
    setup_security(app)
    app[TRUSTED_PROXIES] = TrustedProxies(services.settings.trusted_proxies)
    setup_api(app)
    setup_profiles_api(app)
    setup_documents_api(app)
    setup_call_documents(app)
    setup_help_api(app)
    setup_learning_api(app)
    setup_call_learning(app)
    setup_scorm_api(app)
    setup_calendar_files(app)
    setup_host_join_api(app)
    setup_schedule_api(app)
    setup_attendance_api(app)
    setup_participants_api(app)
    metrics = Metrics()
    hub = RoomHub(
        services,
        MediaRouter(services.registry, services.bus, services.clock),
        reconnect_grace=(
            services.settings.reconnect_grace if reconnect_grace is None else reconnect_grace
        ),
        metrics=metrics,
    )
    setup_ws(app, hub)
    setup_console_socket(app)
    metrics.watch_rooms(hub.connection_count, hub.room_count)
    app[METRICS] = metrics
    app[DRAINING] = Draining()
    app.cleanup_ctx.append(retention_ctx)
    if with_pages and importlib.util.find_spec("signalling.http.pages") is not None:
        from signalling.http.invitations import setup_invitations
        from signalling.http.pages import setup_pages
        from signalling.http.space import setup_space_pages

        setup_pages(app)
        setup_space_pages(app)
        setup_invitations(app)
    if close_services:

        async def _close(app: web.Application) -> AsyncIterator[None]:
            yield
            await services.bus.close()
            await services.stores().close()

        app.cleanup_ctx.insert(0, _close)
    return app
