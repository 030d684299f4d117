"""`lippejob serve`: the signalling server (with its media worker in-process unless told
otherwise), its stores and bus, a demo appointment on request, and a graceful drain on
SIGTERM. Apart from the command line so that the admin commands start without loading it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import sys

import structlog
from aiohttp import web
from sqlalchemy.engine import make_url

from core.bus.base import Bus
from core.bus.memory import MemoryBus
from core.clock import Clock, SystemClock
from core.heap import settle
from core.model import StaffUser
from core.settings import Settings, SettingsError
from core.store.base import AccountStore, AppointmentStore
from core.store.wiring import open_stores
from lippejob.tlsdev import ensure_dev_certificate, ssl_context
from signalling.app import build_services, create_app
from signalling.appointments import schedule
from signalling.auth.keys import ensure_keyring
from signalling.auth.staff import hash_password
from signalling.http.client_address import TrustedProxies
from signalling.http.lifecycle import DRAINING
from signalling.http.listener import ConnectionLimits, Listener
from signalling.metrics import METRICS, serve_metrics
from signalling.room.ws import HUB

log = structlog.get_logger("lippejob")

DEMO_PARTICIPANTS = [
    {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
    {"role": "jobseeker", "name": "Ayşe Yılmaz", "lang": "tr"},  # noqa: RUF001
    {"role": "employer", "name": "Herr Wolf", "lang": "de"},
]


async def open_bus(settings: Settings) -> Bus:
    """The memory bus by default; Redis when a URL is given."""
    if not settings.redis_url:
        return MemoryBus()
    from core.bus.redisbus import RedisBus
    from core.store.redis_client import RedisOptions

    return await RedisBus.from_url(settings.redis_url, RedisOptions.from_settings(settings))


async def import_legacy_staff(settings: Settings, accounts: AccountStore) -> int:
    """Staff accounts from the JSON file of earlier versions (`<data_dir>/staff.json`) go into
    the database once, unless already there; the file is then renamed so that it is not read
    again. Returns how many were imported."""
    legacy = settings.data_dir / "staff.json"
    if not legacy.exists():
        return 0
    data = json.loads(legacy.read_text())
    if not isinstance(data, list):
        raise SettingsError(f"{legacy} must hold a JSON list")
    imported = 0
    for item in data:
        user = StaffUser.from_dict(item)
        if await accounts.get_staff(user.username) is None:
            await accounts.put_staff(user)
            imported += 1
    legacy.rename(legacy.with_name("staff.json.imported"))
    log.info("legacy_staff_imported", count=imported)
    return imported


async def create_demo(
    settings: Settings, store: AppointmentStore, clock: Clock
) -> list[tuple[str, str]]:
    """An appointment that starts now, with the waiting room on; returns (role, url) pairs."""

    now = clock.now()
    scheduled = schedule(
        {
            "title": "Demo appointment",
            "starts_at": now,
            "ends_at": now + 3600,
            "waiting_room": True,
            "participants": DEMO_PARTICIPANTS,
        },
        now=now,
        settings=settings,
        created_by="demo",
    )
    await store.put_appointment(scheduled.appointment)
    base = settings.base_url()
    return [
        (p.role, f"{base}/j/{scheduled.codes[p.id]}") for p in scheduled.appointment.participants
    ]


async def serve(settings: Settings, demo: bool, with_media: bool) -> None:
    clock = SystemClock()
    keyring = ensure_keyring(settings.keys_dir, clock)
    stores = await open_stores(settings, clock)
    try:
        await import_legacy_staff(settings, stores.accounts)
        bus = await open_bus(settings)
    except BaseException:
        await stores.close()
        raise
    services = build_services(settings, clock, stores, bus, keyring)
    app = create_app(services, close_services=True)
    worker = None
    if with_media:
        from mediaserver.config import MediaConfig
        from mediaserver.metrics import WorkerCollector
        from mediaserver.worker import MediaWorker

        worker = MediaWorker(
            f"media-{settings.node_id}",
            stores.registry,
            bus,
            clock,
            MediaConfig.from_settings(settings),
        )
        app[METRICS].register(WorkerCollector(worker))  # on the signalling app's /metrics
        await worker.start()
    ssl = None
    if not settings.http:
        cert, key = (
            (settings.cert, settings.key)
            if settings.cert and settings.key
            else ensure_dev_certificate(settings.certs_dir, [settings.host])
        )
        ssl = ssl_context(cert, key)
    limits = ConnectionLimits.from_settings(settings)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.idle_timeout)
    await runner.setup()
    listener = Listener(runner, limits, TrustedProxies(settings.trusted_proxies), ssl)
    await listener.start(settings.host, settings.port)
    metrics_runner = None
    if settings.metrics_port:
        metrics_runner = await serve_metrics(
            app[METRICS], settings.metrics_host, settings.metrics_port
        )
    frozen = settle(settings.gc_young_threshold)  # start-up is over: see core/heap.py
    log.info(
        "serving",
        url=settings.base_url(),
        redis=bool(settings.redis_url),
        database=make_url(settings.database()).get_backend_name(),
        media=with_media,
        loop=type(asyncio.get_running_loop()).__module__.split(".")[0],  # asyncio or uvloop
        gc_frozen=frozen,
    )
    if demo:
        password = secrets.token_urlsafe(12)
        demo_user = StaffUser("demo", "Frau Becker", hash_password(password), clock.now())
        await stores.accounts.put_staff(demo_user)
        for role, url in await create_demo(settings, stores.appointments, clock):
            print(f"{role}\t{url}", flush=True)
        print(
            f"console: {settings.base_url()}/console  user: demo  password: {password}",
            file=sys.stderr,
            flush=True,
        )
    stop, now = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)  # drain, then stop

    def interrupt() -> None:  # Ctrl-C: stop at once, no drain
        now.set()
        stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        await stop.wait()
        # Drain: readiness goes red so nobody new is sent here; live calls get time to end.
        app[DRAINING].active = True
        hub = app[HUB]
        log.info("draining", connections=hub.connection_count())
        deadline = clock.now() + settings.drain_timeout
        while hub.connection_count() and clock.now() < deadline and not now.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(now.wait(), 0.5)  # Ctrl-C during the drain
    finally:
        log.info("stopping")
        if worker is not None:
            await worker.close()
        await listener.close()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await runner.cleanup()
