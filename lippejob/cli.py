"""The `lippejob` command: serve, media, staff, keys, db, audit, documents."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from core.audit import Anchor, Head, verify
from core.clock import SystemClock
from core.db.engine import DatabaseUrlError, create_engine, describe
from core.db.migrate import SchemaError, check_schema, upgrade
from core.documents.sealing import SealError, unwrap, wrap
from core.documents.vault import (
    KEY_ENV,
    MasterKeyError,
    load_master_keys,
    retire_older,
    rotate_master_keys,
)
from core.logs import configure_logging
from core.model import StaffUser
from core.settings import Settings, SettingsError, load_settings
from core.store.sql import SqlStore
from core.store.sqlaudit import SqlAuditLog
from core.store.wiring import open_durable
from lippejob.tlsdev import DevCertificateError
from signalling.auth.keys import KeyRingError, generate_key
from signalling.auth.staff import check_new_password, hash_password


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {
        k: getattr(args, k, None)
        for k in ("host", "port", "redis_url", "database_url", "public_url")
    }
    if getattr(args, "http", False):
        overrides["http"] = True
    for name in ("cert", "key", "keys_dir", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = Path(value)
    return load_settings(
        Path(args.config) if getattr(args, "config", None) else None, **overrides, **extra
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args, metrics_port=args.metrics_port)
    from lippejob.serve import serve  # the server's modules load only for it
    from mediaserver.worker import run_in_loop

    run_in_loop(serve(settings, demo=args.demo, with_media=not args.no_media), settings.uvloop)
    return 0


def cmd_media(args: argparse.Namespace) -> int:
    settings = _settings(args, media_metrics_port=args.metrics_port)
    if not settings.redis_url:
        print(
            "lippejob media needs --redis URL (without Redis, serve runs the SFU itself)",
            file=sys.stderr,
        )
        return 2
    from mediaserver.worker import run_in_loop, run_worker, set_nice

    set_nice(settings.media_nice)
    run_in_loop(run_worker(settings), settings.media_uvloop)
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

    async def put() -> None:
        store = await open_durable(settings, SystemClock())
        try:
            await store.put_staff(user)
        finally:
            await store.close()

    asyncio.run(put())
    print(f"staff account {args.username} saved")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def run() -> tuple[str | None, str]:
        engine = create_engine(settings.database())
        try:
            return await upgrade(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(run())
    where = describe(settings.database())
    if before == after:
        print(f"database {where} is up to date (revision {after})")
    else:
        print(f"database {where} upgraded from revision {before or '(empty)'} to {after}")
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    kid = generate_key(settings.keys_dir, SystemClock())
    print(
        f"new signing key {kid} in {settings.keys_dir}; the previous key stays valid for "
        "verification until the next rotation. Restart the servers to pick it up."
    )
    return 0


AUDIT_ANCHOR = "audit-heads.jsonl"


def _anchor(args: argparse.Namespace, settings: Settings) -> Anchor:
    return Anchor(Path(args.anchor) if args.anchor else settings.data_dir / AUDIT_ANCHOR)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    anchor = _anchor(args, settings)
    try:
        heads = list(anchor.heads())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> list[Any]:
        engine = create_engine(settings.database())
        try:
            await check_schema(engine)
            log_ = SqlAuditLog(engine)
            out: list[Any] = []
            while page := await log_.entries(after=out[-1].seq if out else 0):
                out += page
            return out
        finally:
            await engine.dispose()

    verdict = verify(asyncio.run(run()), heads)
    if verdict.ok:
        print(f"audit trail intact: {verdict.checked} entries, {len(heads)} anchored heads")
        return 0
    print(f"audit trail BROKEN at entry {verdict.seq}: {verdict.problem}", file=sys.stderr)
    return 1


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    """Write the chain's head to the anchor file (run it from cron, and keep copies)."""
    settings = _settings(args)

    async def run() -> Head | None:
        engine = create_engine(settings.database())
        try:
            await check_schema(engine)
            head = await SqlAuditLog(engine).head()
        finally:
            await engine.dispose()
        return Head(head.seq, head.hash) if head else None

    head = asyncio.run(run())
    if head is None:
        print("the audit trail is empty: nothing to anchor")
        return 0
    anchor = _anchor(args, settings)
    anchor.path.parent.mkdir(parents=True, exist_ok=True)
    anchor.write(head, at=SystemClock().now())
    print(f"anchored entry {head.seq} in {anchor.path}")
    return 0


def cmd_documents_keygen(args: argparse.Namespace) -> int:
    settings = _settings(args)
    keys = rotate_master_keys(settings.keys_dir)
    print(
        f"new document master key {keys.current.kid} in {settings.keys_dir}; "
        f"{len(keys.older)} older key(s) kept to open documents wrapped before. Keep a copy "
        "of this key apart from the data: without it no document can be read."
    )
    return 0


def cmd_documents_rewrap(args: argparse.Namespace) -> int:
    """Move every wrapped data key to the current master key; then forget the older keys."""
    settings = _settings(args)
    keys = load_master_keys(settings.keys_dir)

    async def run() -> int:
        engine = create_engine(settings.database())
        store = SqlStore(engine, SystemClock())
        moved = 0
        try:
            await check_schema(engine)
            while batch := await store.wrapped_keys(not_kid=keys.current.kid):
                for document_id, wrapped in batch:
                    new = wrap(
                        keys.current,
                        unwrap(keys.get(wrapped.kid), wrapped, document_id),
                        document_id,
                    )
                    moved += await store.replace_wrapped_key(document_id, wrapped, new)
        finally:
            await engine.dispose()
        return moved

    moved = asyncio.run(run())
    if not os.environ.get(KEY_ENV):
        retire_older(settings.keys_dir)
    print(
        f"{moved} document key(s) now wrapped by master key {keys.current.kid}; "
        "older master keys retired"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lippejob", description=__doc__)
    parser.add_argument("--config", help="JSON settings file")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis", dest="redis_url", help="redis://host:port/db (shared state)")
        p.add_argument("--data-dir", help="local data: the SQLite database (default var/)")
        p.add_argument("--keys-dir", help="token signing keys (default var/keys)")

    def database(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--database",
            dest="database_url",
            help="sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db "
            "(durable records; default: SQLite file lippejob.db in the data directory)",
        )

    serve = sub.add_parser("serve", help="run the server")
    common(serve)
    database(serve)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--http", action="store_true", help="plain HTTP behind a TLS proxy")
    serve.add_argument("--cert")
    serve.add_argument("--key")
    serve.add_argument("--public-url", help="base URL of join links")
    serve.add_argument("--demo", action="store_true", help="create a demo appointment")
    serve.add_argument(
        "--metrics-port",
        type=int,
        help="serve /metrics on this port of metrics_host (default 127.0.0.1); never public",
    )
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
    database(add)
    add.add_argument("username")
    add.add_argument("--display-name")
    add.set_defaults(func=cmd_staff_add)

    keys = sub.add_parser("keys", help="token signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    gen = keys_sub.add_parser("generate", help="generate a new signing key (rotation)")
    common(gen)
    gen.set_defaults(func=cmd_keys_generate)

    db = sub.add_parser("db", help="the database of durable records")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="create or migrate the schema to this version")
    common(up)
    database(up)
    up.set_defaults(func=cmd_db_upgrade)

    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    for name, func, text in (
        ("verify", cmd_audit_verify, "check the hash chain and the anchored heads"),
        ("anchor", cmd_audit_anchor, "append the chain's head to the anchor file"),
    ):
        command = audit_sub.add_parser(name, help=text)
        common(command)
        database(command)
        command.add_argument(
            "--anchor", help=f"file of anchored heads (default: {AUDIT_ANCHOR} in the data dir)"
        )
        command.set_defaults(func=func)

    documents = sub.add_parser("documents", help="the application folders' documents")
    documents_sub = documents.add_subparsers(dest="documents_command", required=True)
    keygen = documents_sub.add_parser(
        "keygen", help="make a new master key for document keys (the old ones are kept)"
    )
    common(keygen)
    keygen.set_defaults(func=cmd_documents_keygen)
    rewrap = documents_sub.add_parser(
        "rewrap", help="wrap every document key with the current master key, retire the others"
    )
    common(rewrap)
    database(rewrap)
    rewrap.set_defaults(func=cmd_documents_rewrap)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    # Alembic narrates each step at INFO; `db upgrade` prints its own one-line summary.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except (
        SettingsError,
        KeyRingError,
        DevCertificateError,
        SchemaError,
        DatabaseUrlError,
        MasterKeyError,
        SealError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"error: cannot use the database: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
