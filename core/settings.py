"""Settings: typed defaults, then a JSON file, then LIPPEJOB_* environment variables,
validated once at start."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# LIPPEJOB_* variables that are read elsewhere, not settings (a typo in a setting is refused).
NON_SETTING_VARIABLES = frozenset({"LIPPEJOB_STAFF_PASSWORD"})
PHONE_CHARACTERS = frozenset("0123456789 +-/()")
# Free-text contact facts for the pages (one line each, no control characters).
CONTACT_TEXTS = ("support_hours", "controller_name", "controller_address", "dpo_contact")
CONTACT_MAX = 200


class SettingsError(ValueError):
    """A setting is missing, malformed or unsafe; the server refuses to start."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8443
    http: bool = False  # plain HTTP, for running behind a TLS-terminating proxy
    cert: Path | None = None
    key: Path | None = None
    public_url: str = ""  # base of join links; derived from host/port when empty
    redis_url: str | None = None
    # Each process's Redis connections: a command (and a connect) may take redis_timeout; a
    # broken connection is tried redis_retries more times with backoff (0.3 s, 0.6 s); a burst
    # waits up to redis_pool_timeout for one of redis_max_connections instead of failing.
    redis_timeout: float = 1.0
    redis_retries: int = 2
    redis_max_connections: int = 100
    redis_pool_timeout: float = 5.0
    # Durable records: sqlite+aiosqlite:///path or postgresql+asyncpg://...; empty means the
    # embedded default, an SQLite file in data_dir (see `database()`).
    database_url: str = ""
    data_dir: Path = Path("var")
    keys_dir: Path = Path("var/keys")
    certs_dir: Path = Path("certs/dev")
    node_id: str = field(default_factory=lambda: f"sig-{uuid.uuid4().hex[:8]}")
    issuer: str = "lippejob"
    token_ttl: int = 600  # seconds; DESIGN.md caps room tokens at ten minutes
    early_join_margin: int = 900  # seconds before the window in which links work
    session_ttl: int = 8 * 3600  # console sessions
    space_idle_timeout: int = 1800  # a jobseeker's space session ends after this long idle
    ws_max_message: int = 64 * 1024  # bytes; larger messages close the socket
    ws_max_errors: int = 5  # invalid messages tolerated before a 4400-range close
    ws_auth_timeout: float = 10.0
    # The room socket pings a silent client ws_heartbeat seconds after its last frame and
    # closes it when nothing comes back within ws_pong_timeout more: a frozen tablet shows as
    # `reconnecting` at most ws_heartbeat + ws_pong_timeout (6 s) after it froze, and as `left`
    # when it has not come back within reconnect_grace after that. A busy tablet that answers
    # a ping within 4 s keeps its socket (and with it its media).
    ws_heartbeat: float = 2.0
    ws_pong_timeout: float = 4.0
    reconnect_grace: float = 20.0
    # A signalling node renews its registration every node_heartbeat and watches the others
    # as often; one silent for node_ttl (killed, frozen, cut off) has lapsed: one survivor
    # takes its members over (`reconnecting`, then `left` after reconnect_grace) within
    # node_ttl + 2 * node_heartbeat (6 s) of its last beat.
    node_heartbeat: float = 1.0
    node_ttl: float = 4.0
    drain_timeout: float = 3600.0  # on SIGTERM, how long live calls may go on
    retention_days: float = 30.0  # appointments, attendance and names go this long after the end
    # The application folders: sealed document blobs live here (shared between signalling
    # nodes); empty means <data_dir>/documents. Documents unused this long are shredded.
    documents_dir: Path | None = None
    document_retention_days: float = 180.0
    # Help requests from the space: a closed one (arranged, declined) goes this long after its
    # last change; open ones stay until a caseworker closes them.
    help_retention_days: float = 180.0
    # E-learning modules (a folder per module, each with its module.toml); empty means the
    # modules shipped with the server (web/elearning/modules).
    learning_modules_dir: Path | None = None
    # SCORM 1.2 packages from course providers: the staff usernames who may import them
    # through the console (empty: nobody may); where they are unpacked (shared between
    # signalling nodes; empty means <data_dir>/scorm); and the limits of one package: the
    # uploaded ZIP, the unpacked size, the number of files, and how much larger than its
    # compressed size one file may unpack (a zip bomb unpacks a thousand times larger).
    scorm_importers: tuple[str, ...] = ()
    scorm_dir: Path | None = None
    scorm_max_upload: int = 100 * 1024 * 1024
    scorm_max_size: int = 200 * 1024 * 1024
    scorm_max_files: int = 5000
    scorm_max_ratio: int = 100
    timezone: str = "Europe/Berlin"  # how pages show appointment times
    # What pages ask of the camera (ideal values: a camera offers what it has closest). Lower
    # them where tablets are old or the mobile network is thin: every page in a call encodes
    # its own picture and decodes everyone else's.
    camera_width: int = 640
    # Pages send the camera as simulcast (three sizes; the SFU forwards each subscriber the
    # one its connection carries).
    simulcast: bool = True
    camera_height: int = 480
    camera_frame_rate: int = 24
    max_title_length: int = 200
    max_name_length: int = 100
    max_participants: int = 8
    # Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; empty:
    # the socket peer is the client. Per-address limits key by the client so found.
    trusted_proxies: tuple[str, ...] = ()
    # POST /api/join per client address: this many a second, in bursts of join_burst.
    join_rate: float = 2.0
    join_burst: int = 20
    # The public listener: a connection must send its first request head within
    # http_header_timeout (TLS handshake included); a kept-alive one may idle http_idle_timeout;
    # open connections are capped per peer address (trusted proxies exempt) and in total
    # (keep max_connections under the process's file descriptor limit).
    http_header_timeout: float = 10.0
    http_idle_timeout: float = 60.0
    max_connections_per_address: int = 200
    max_connections: int = 2000
    # Prometheus /metrics of `serve` on a listener of its own (never the public port);
    # 0: not served.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # The job centre's telephone line, shown when a call's sound and picture cannot get
    # through (e.g. "+49 5231 123-0"); empty: none is shown.
    support_phone: str = ""
    # The contact line on every error page and on the privacy notice: support_phone with
    # support_hours (e.g. "Mon-Fri 8:00-16:00"); and the privacy notice's GDPR Art. 13
    # facts: who is responsible for the data (controller_name, controller_address) and how
    # to reach the data-protection officer (dpo_contact, e.g. an address or e-mail).
    # Empty: the line or the fact is left out.
    support_hours: str = ""
    controller_name: str = ""
    controller_address: str = ""
    dpo_contact: str = ""
    # Media
    ice_servers: tuple[dict[str, Any], ...] = ()  # STUN/TURN handed to browsers only
    # "relay": browsers use only TURN (where UDP to the SFU is blocked anyway, or to hide
    # their addresses from the SFU's network); "all": direct first, TURN as the fallback.
    ice_transport_policy: str = "all"
    media_announce_ips: tuple[str, ...] = ()  # host candidate addresses the SFU announces
    # STUN/TURN servers the SFU itself uses. Empty by default: the SFU has a reachable address
    # (`media_announce_ips`), so it needs no relay of its own (each would cost an allocation
    # per peer connection on the TURN server) and contacts no outside STUN server. Browsers
    # behind TURN reach its host candidates through their own relay.
    media_ice_servers: tuple[dict[str, Any], ...] = ()
    media_port_min: int = 0
    media_port_max: int = 0
    # A media worker renews its registration every media_heartbeat; one silent for
    # media_worker_ttl (killed, frozen) is dead: signalling, which checks its rooms' workers
    # every media_heartbeat, tells those calls' clients `media_moved` (they reconnect and
    # land on another worker) within media_worker_ttl + media_heartbeat of the last beat.
    media_worker_ttl: float = 2.0
    media_heartbeat: float = 0.5
    # On SIGTERM a media worker takes no new rooms; calls that have not ended after this long
    # are moved to another worker (their clients reconnect on their own).
    media_drain_timeout: float = 30.0
    # A separate media worker process (`lippejob media`) runs on uvloop when it is installed.
    media_uvloop: bool = True
    # The media worker's per-packet edge (SRTP, header writing, sendto) runs in C where `pip
    # install` could build it (mediaserver/rtp/_wire.c; see `lippejob media`'s start log,
    # `wire`); off: its pure-Python version.
    media_compiled_wire: bool = True
    # `lippejob media` sets its own nice value to this at start, before it starts any thread
    # (negative: before other processes on the same cores; needs root or CAP_SYS_NICE, in
    # Docker `--cap-add SYS_NICE`; refused, the worker says so in its log and runs on). A
    # worker that shares its cores with other busy processes otherwise waits its turn with
    # every packet: in the call benchmark, with its clients and Chromium on the same two cores,
    # it spent 0.54 s of each second waiting for a core at nice 0, 0.08 s at -10. 0 leaves it.
    media_nice: int = 0
    # `lippejob serve` (the signalling node, and its media worker when in process) runs on
    # uvloop when it is installed: WebSocket, Redis and database round trips cost less CPU.
    uvloop: bool = True
    # Once started, `serve` and `lippejob media` freeze their start-up heap out of the
    # garbage collector's sight and collect young objects every `gc_young_threshold`
    # allocations instead of 700 (0: Python's own settings). See core/heap.py.
    gc_young_threshold: int = 20000
    # `lippejob media` serves its /metrics on host:port (0: not at all; `serve` shows the
    # in-process worker's on its own /metrics).
    media_metrics_port: int = 0

    def base_url(self) -> str:
        """The URL prefix of join links."""
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "http" if self.http else "https"
        host = "localhost" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    def database(self) -> str:
        """The database URL in effect."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'lippejob.db'}"

    def documents_path(self) -> Path:
        """Where the sealed document blobs are kept."""
        return self.documents_dir or self.data_dir / "documents"

    def scorm_path(self) -> Path:
        """Where imported SCORM packages are unpacked."""
        return self.scorm_dir or self.data_dir / "scorm"

    def embedded_database(self) -> bool:
        """True when records go to the default SQLite file that nobody else configured."""
        return not self.database_url

    def validate(self) -> Settings:
        if not (0 < self.token_ttl <= 600):
            raise SettingsError("token_ttl must be between 1 and 600 seconds")
        if self.document_retention_days <= 0:
            raise SettingsError("document_retention_days must be positive")
        if self.help_retention_days <= 0:
            raise SettingsError("help_retention_days must be positive")
        if self.space_idle_timeout <= 0:
            raise SettingsError("space_idle_timeout must be positive")
        if not (0 <= self.port <= 65535):
            raise SettingsError("port out of range")
        if (self.cert is None) != (self.key is None):
            raise SettingsError("--cert and --key go together")
        if self.media_port_min > self.media_port_max:
            raise SettingsError("media_port_min is above media_port_max")
        if not (0 <= self.media_metrics_port <= 65535):
            raise SettingsError("media_metrics_port out of range")
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(str(entry).strip(), strict=False)
            except ValueError:
                raise SettingsError(
                    f"trusted_proxies: not an address or CIDR range: {entry!r}"
                ) from None
        if self.http_header_timeout <= 0 or self.http_idle_timeout <= 0:
            raise SettingsError("http_header_timeout and http_idle_timeout must be positive")
        if not 1 <= self.max_connections_per_address <= self.max_connections:
            raise SettingsError("need 1 <= max_connections_per_address <= max_connections")
        if not (0 <= self.metrics_port <= 65535):
            raise SettingsError("metrics_port out of range")
        if self.join_rate <= 0 or self.join_burst < 1:
            raise SettingsError("join_rate must be positive and join_burst at least 1")
        if self.redis_timeout <= 0 or self.redis_pool_timeout <= 0:
            raise SettingsError("redis_timeout and redis_pool_timeout must be positive")
        if self.redis_retries < 0 or self.redis_max_connections < 1:
            raise SettingsError("need redis_retries >= 0 and redis_max_connections >= 1")
        if min(self.ws_heartbeat, self.ws_pong_timeout, self.reconnect_grace) <= 0:
            raise SettingsError(
                "ws_heartbeat, ws_pong_timeout and reconnect_grace must be positive"
            )
        if not 0 < self.node_heartbeat < self.node_ttl:
            raise SettingsError("need 0 < node_heartbeat < node_ttl")
        if not 0 < self.media_heartbeat < self.media_worker_ttl:
            raise SettingsError("need 0 < media_heartbeat < media_worker_ttl")
        if self.media_drain_timeout < 0:
            raise SettingsError("media_drain_timeout must not be negative")
        if not (
            160 <= self.camera_width <= 1920
            and 120 <= self.camera_height <= 1080
            and 5 <= self.camera_frame_rate <= 30
        ):
            raise SettingsError(
                "camera_width 160-1920, camera_height 120-1080, camera_frame_rate 5-30"
            )
        try:
            ZoneInfo(self.timezone)
        except (ValueError, KeyError):
            raise SettingsError(f"unknown timezone {self.timezone!r}") from None
        for server in (*self.ice_servers, *self.media_ice_servers):
            if not isinstance(server, dict) or "urls" not in server:
                raise SettingsError("each ICE server needs 'urls'")
        if len(self.support_phone) > 40 or not set(self.support_phone) <= PHONE_CHARACTERS:
            raise SettingsError("support_phone must be a phone number: digits, spaces, + - / ( )")
        for name in CONTACT_TEXTS:
            value = getattr(self, name)
            if len(value) > CONTACT_MAX or any(unicodedata.category(c)[0] == "C" for c in value):
                raise SettingsError(f"{name} must be one line of at most {CONTACT_MAX} characters")
        if self.database_url and not self.database_url.startswith(
            ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        ):
            raise SettingsError(
                "database_url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        if not all(isinstance(u, str) and u for u in self.scorm_importers):
            raise SettingsError("scorm_importers must list staff usernames")
        if min(self.scorm_max_upload, self.scorm_max_size, self.scorm_max_files) < 1:
            raise SettingsError("the scorm_max_* limits must be positive")
        if self.scorm_max_ratio < 1:
            raise SettingsError("scorm_max_ratio must be at least 1")
        if self.ice_transport_policy not in ("all", "relay"):
            raise SettingsError("ice_transport_policy must be 'all' or 'relay'")
        if self.ice_transport_policy == "relay" and not self.ice_servers:
            raise SettingsError("ice_transport_policy 'relay' needs a TURN server in ice_servers")
        return self


def _convert(name: str, current: Any, raw: Any) -> Any:
    target = type(current)
    try:
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            return str(raw).lower() in ("1", "true", "yes", "on")
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, Path) or name in (
            "cert",
            "key",
            "documents_dir",
            "learning_modules_dir",
            "scorm_dir",
        ):
            return Path(raw)
        if isinstance(current, tuple):
            value = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(value, list):
                raise SettingsError(f"{name} must be a JSON list")
            return tuple(value)
        if current is None or target is str:
            return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"bad value for {name}: {exc}") from None
    return raw


def load_settings(
    file: Path | None = None, env: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    """Defaults, then `file` (JSON), then LIPPEJOB_* variables, then explicit overrides."""
    settings = Settings()
    names = {f.name for f in dataclasses.fields(Settings)}
    layers: list[dict[str, Any]] = []
    if file is not None:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise SettingsError(f"cannot read settings file {file}: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError("settings file must hold a JSON object")
        layers.append(data)
    environ = os.environ if env is None else env
    layers.append(
        {
            k[len("LIPPEJOB_") :].lower(): v
            for k, v in environ.items()
            if k.startswith("LIPPEJOB_") and k not in NON_SETTING_VARIABLES
        }
    )
    layers.append({k: v for k, v in overrides.items() if v is not None})
    for layer in layers:
        unknown = set(layer) - names
        if unknown:
            raise SettingsError(f"unknown settings: {', '.join(sorted(unknown))}")
        changes = {k: _convert(k, getattr(settings, k), v) for k, v in layer.items()}
        settings = dataclasses.replace(settings, **changes)
    return settings.validate()
