"""The `lippejob` command: serve, media, staff, keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from core.bus.base import Bus
from core.bus.memory import MemoryBus
from core.clock import Clock, SystemClock
from core.logs import configure_logging
from core.model import StaffUser
from core.settings import Settings, SettingsError, load_settings
from core.store.base import Store, Stores
from core.store.memory import MemoryStore
from lippejob.tlsdev import DevCertificateError, ensure_dev_certificate, ssl_context
from signalling.app import build_services, create_app
from signalling.appointments import schedule
from signalling.auth.keys import KeyRingError, ensure_keyring, generate_key
from signalling.auth.staff import check_new_password, hash_password
from signalling.auth.staff_file import read_staff, upsert_staff
from signalling.http.lifecycle import DRAINING
from signalling.metrics import METRICS
from signalling.room.ws import HUB

log = structlog.get_logger("lippejob")

DEMO_PARTICIPANTS = [
    {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
    {"role": "jobseeker", "name": "Ayşe Yılmaz", "lang": "tr"},  # noqa: RUF001
    {"role": "employer", "name": "Herr Wolf", "lang": "de"},
]


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("host", "port", "redis_url", "public_url")}
    if getattr(args, "http", False):
        overrides["http"] = True
    for name in ("cert", "key", "keys_dir", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = Path(value)
    return load_settings(
        Path(args.config) if getattr(args, "config", None) else None, **overrides, **extra
    )


def staff_path(settings: Settings) -> Path:
    return settings.data_dir / "staff.json"


async def open_store_and_bus(settings: Settings, clock: Clock) -> tuple[Store, Bus]:
    """Memory store and bus by default; Redis when a URL is given."""
    if not settings.redis_url:
        return MemoryStore(clock), MemoryBus()
    from core.bus.redisbus import RedisBus
    from core.store.redisstore import RedisStore

    return (
        await RedisStore.from_url(settings.redis_url, clock),
        await RedisBus.from_url(settings.redis_url),
    )


async def create_demo(settings: Settings, store: Store, clock: Clock) -> list[tuple[str, str]]:
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


async def _serve(settings: Settings, demo: bool, with_media: bool) -> None:
    clock = SystemClock()
    keyring = ensure_keyring(settings.keys_dir, clock)
    store, bus = await open_store_and_bus(settings, clock)
    for user in read_staff(staff_path(settings)):
        await store.put_staff(user)
    services = build_services(settings, clock, Stores.single(store), bus, keyring)
    app = create_app(services, close_services=True)
    worker = None
    if with_media:
        from mediaserver.config import MediaConfig
        from mediaserver.metrics import WorkerCollector
        from mediaserver.worker import MediaWorker

        worker = MediaWorker(
            f"media-{settings.node_id}", store, bus, clock, MediaConfig.from_settings(settings)
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, ssl_context=ssl)
    await site.start()
    log.info("serving", url=settings.base_url(), redis=bool(settings.redis_url), media=with_media)
    if demo:
        password = secrets.token_urlsafe(12)
        demo_user = StaffUser("demo", "Frau Becker", hash_password(password), clock.now())
        await store.put_staff(demo_user)
        for role, url in await create_demo(settings, store, clock):
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
        await runner.cleanup()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asyncio.run(_serve(settings, demo=args.demo, with_media=not args.no_media))
    return 0


def cmd_media(args: argparse.Namespace) -> int:
    settings = _settings(args, media_metrics_port=args.metrics_port)
    if not settings.redis_url:
        print(
            "lippejob media needs --redis URL (without Redis, serve runs the SFU itself)",
            file=sys.stderr,
        )
        return 2
    from mediaserver.worker import run_worker

    asyncio.run(run_worker(settings))
    return 0


def cmd_staff_add(args: argparse.Namespace) -> int:
    settings = _settings(args)
    password = os.environ.get("LIPPEJOB_STAFF_PASSWORD") or getpass.getpass("Password: ")
    try:
        check_new_password(password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    user = StaffUser(
        args.username,
        args.display_name or args.username,
        hash_password(password),
        SystemClock().now(),
    )
    upsert_staff(staff_path(settings), user)
    if settings.redis_url:

        async def put() -> None:
            store, bus = await open_store_and_bus(settings, SystemClock())
            await store.put_staff(user)
            await store.close()
            await bus.close()

        asyncio.run(put())
    print(f"staff account {args.username} saved")
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    kid = generate_key(settings.keys_dir, SystemClock())
    print(
        f"new signing key {kid} in {settings.keys_dir}; the previous key stays valid for "
        "verification until the next rotation. Restart the servers to pick it up."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lippejob", description=__doc__)
    parser.add_argument("--config", help="JSON settings file")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis", dest="redis_url", help="redis://host:port/db (shared state)")
        p.add_argument("--data-dir", help="where staff accounts live (default var/)")
        p.add_argument("--keys-dir", help="token signing keys (default var/keys)")

    serve = sub.add_parser("serve", help="run the server")
    common(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--http", action="store_true", help="plain HTTP behind a TLS proxy")
    serve.add_argument("--cert")
    serve.add_argument("--key")
    serve.add_argument("--public-url", help="base URL of join links")
    serve.add_argument("--demo", action="store_true", help="create a demo appointment")
    serve.add_argument(
        "--no-media",
        action="store_true",
        help="no in-process SFU (media workers run apart, with Redis)",
    )
    serve.set_defaults(func=cmd_serve)

    media = sub.add_parser("media", help="run a media worker (needs --redis)")
    common(media)
    media.add_argument(
        "--metrics-port", type=int, help="serve /metrics on this port (host: the host setting)"
    )
    media.set_defaults(func=cmd_media)

    staff = sub.add_parser("staff", help="staff accounts")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser("add", help="add or update a staff account")
    common(add)
    add.add_argument("username")
    add.add_argument("--display-name")
    add.set_defaults(func=cmd_staff_add)

    keys = sub.add_parser("keys", help="token signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="generate a new signing key (rotation)")
    common(gen)
    gen.set_defaults(func=cmd_keys_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(args.func(args))
    except (SettingsError, KeyRingError, DevCertificateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
