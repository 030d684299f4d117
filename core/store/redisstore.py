"""The shared ephemeral store over Redis, for several signalling processes and media workers.

Implements `PresenceStore` and `RegistryStore` (`core.store.base.EphemeralStore`); durable
records are in the database (`core.store.sql`), so Redis holds nothing that must survive a
restart. Everything that expires (revocations, node heartbeats, worker registrations, room
placements) carries a Redis TTL, so Redis forgets it on its own, and also keeps its deadline in
the value, checked against the injected clock on read, so expiry follows the same clock as
`MemoryStore` (and a test's `FakeClock`). TTLs are relative (`PX`), computed
from that clock, so skew between the clock and Redis's own does not matter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis

from core.clock import Clock
from core.model import LobbyNote, Member, ShownPanel, WorkerInfo, shown_panel_from_dict
from core.store.redis_client import RedisOptions, redis_client

# Keys, after the store's prefix ("lj:" by default).
REVOKED_KEY = "revoked:{jti}"  # the epoch second until which the token id stays revoked; TTL
MEMBERS_KEY = "room:{id}:members"  # hash: participant id -> JSON of Member (room presence)
PANEL_KEY = "room:{id}:panel"  # JSON {"shown": ShownDocument|ShownSection, "until"}: the panel; TTL
# JSON {"note": LobbyNote, "until"}: the latest message to the waiting room; TTL
LOBBY_NOTE_KEY = "room:{id}:lobby_note"
WORKER_KEY = "worker:{id}"  # JSON {"info": WorkerInfo, "expires_at"}; TTL = registration ttl
NODE_KEY = "node:{id}"  # a signalling node's heartbeat: the clock second it expires; TTL
# Set of node ids that registered; a lapsed one leaves it once a survivor took it over.
NODES_KEY = "nodes"
# JSON {"by", "expires_at"}: the survivor taking over a lapsed node's members; TTL. Not
# "node:..." so that the scan for live nodes does not find it.
NODE_CLAIM_KEY = "node_claim:{id}"
WORKERS_KEY = "workers"  # set of worker ids that registered; ids whose key expired are pruned
ROOM_WORKER_KEY = "room:{id}:worker"  # JSON {"worker", "expires_at"}: the room's placement

# Revocations only grow: keep the later of the stored and the new deadline.
# KEYS[1] revoked key; ARGV: until, ttl in ms.
_REVOKE_LUA = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# SET NX with a TTL, where "exists" also means "not past its deadline on the injected clock":
# a plain SET NX would keep a placement that the store's clock already considers expired.
# KEYS[1] placement key; ARGV: worker id, now, placement JSON, ttl in ms. Returns the holder.
_ASSIGN_ROOM_LUA = """
local current = redis.call('GET', KEYS[1])
if current then
  local held = cjson.decode(current)
  if tonumber(held['expires_at']) > tonumber(ARGV[2]) then
    return held['worker']
  end
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return ARGV[1]
"""

# Compare and delete: release a placement only if the caller still holds it.
# KEYS[1] placement key; ARGV[1] worker id.
_RELEASE_ROOM_LUA = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['worker'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# Drop a worker id from the index only if its registration is really gone, so a worker that
# registers again between our read and this prune stays listed.
# KEYS[1] worker key, KEYS[2] index; ARGV[1] worker id.
def _swap_lua(members: str, first: int) -> str:
    """Compare and set one member: replace (or delete, with an empty value) the field only if
    the stored member still has the expected connection and status; returns false if not.
    `members` names the hash's KEYS entry; ARGV[first..first+3]: participant id, expected
    conn, expected status, new JSON or ""."""
    pid, conn, status, value = (f"ARGV[{first + i}]" for i in range(4))
    return f"""
local raw = redis.call('HGET', {members}, {pid})
if not raw then return false end
local member = cjson.decode(raw)
if member['conn'] ~= {conn} or member['status'] ~= {status} then return false end
if {value} == '' then
  redis.call('HDEL', {members}, {pid})
else
  redis.call('HSET', {members}, {pid}, {value})
end
"""


# KEYS[1] members hash; ARGV as for `_swap_lua`; 1 if swapped.
_SWAP_MEMBER_LUA = _swap_lua("KEYS[1]", 1) + "return 1\n"

# Renew a node's registration and index it; 1 if it was live until now.
# KEYS[1] node key, KEYS[2] node index; ARGV: node id, expires_at, ttl in ms, now.
_REGISTER_NODE_LUA = """
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
if old and tonumber(old) > tonumber(ARGV[4]) then return 1 end
return 0
"""

# SET NX with a TTL on the takeover claim, refused while the node is live: of several
# survivors exactly one takes a lapsed node over, and never a node that beat again.
# KEYS[1] node key, KEYS[2] claim key; ARGV: now, claim JSON, ttl in ms.
_CLAIM_NODE_LUA = """
local beat = redis.call('GET', KEYS[1])
if beat and tonumber(beat) > tonumber(ARGV[1]) then return 0 end
local current = redis.call('GET', KEYS[2])
if current and tonumber(cjson.decode(current)['expires_at']) > tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# Release the claim if `by` holds it (compare and delete), and drop the node from the index
# unless it is live again. KEYS[1] node key, KEYS[2] index, KEYS[3] claim key;
# ARGV: node id, by, now.
_FORGET_NODE_LUA = """
local current = redis.call('GET', KEYS[3])
if current and cjson.decode(current)['by'] == ARGV[2] then
  redis.call('DEL', KEYS[3])
end
local beat = redis.call('GET', KEYS[1])
if not beat or tonumber(beat) <= tonumber(ARGV[3]) then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
"""

# The registered nodes with their heartbeats, in one round trip: every node that beats is in
# the index (`_REGISTER_NODE_LUA` adds it with its beat; `_FORGET_NODE_LUA` drops only a node
# that does not beat). KEYS[1] index; ARGV[1] the node key's prefix. Returns [id, beat, ...]
# for the nodes whose key exists.
_NODE_BEATS = """
local ids = redis.call('SMEMBERS', KEYS[1])
local beats = {}
for _, id in ipairs(ids) do
  local beat = redis.call('GET', ARGV[1] .. id)
  if beat then
    beats[#beats + 1] = id
    beats[#beats + 1] = beat
  end
end
"""
_NODE_BEATS_LUA = _NODE_BEATS + "return beats\n"
# A room's members with the nodes' beats (as above), one round trip for what a presence
# change shows. KEYS[1] node index, KEYS[2] members hash; ARGV[1] the node key's prefix.
# Returns {[participant, member JSON, ...], [id, beat, ...]}.
_PRESENT_LUA = (
    """
local members = redis.call('HGETALL', KEYS[2])
if #members == 0 then return {members, {}} end
"""
    + _NODE_BEATS
    + "return {members, beats}\n"
)

# The swap, then (if it swapped) `_PRESENT_LUA`: an admission's compare and set and the lobby
# list after it in one round trip; false if the member changed meanwhile. KEYS[1] node index,
# KEYS[2] members; ARGV[1] the node key's prefix, ARGV[2..5] as for the swap.
_SWAP_PRESENT_LUA = _swap_lua("KEYS[2]", 2) + _PRESENT_LUA

_PRUNE_WORKER_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.call('SREM', KEYS[2], ARGV[1])
end
return 0
"""


# The room's worker, if it holds a placement that has not expired and its registration has
# not either: one round trip for what every join asks. KEYS[1] the placement; ARGV[1] the
# worker key's prefix, ARGV[2] now (our clock). Reads the worker key it is not given (fine on
# one Redis; never run on a Cluster), as the node scripts do.
_LIVE_ROOM_WORKER_LUA = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local held = cjson.decode(raw)
local now = tonumber(ARGV[2])
if tonumber(held['expires_at']) <= now then return false end
local registration = redis.call('GET', ARGV[1] .. held['worker'])
if not registration then return false end
if tonumber(cjson.decode(registration)['expires_at']) <= now then return false end
return held['worker']
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def redis_text(value: object) -> str:
    """A name as Redis returns it (bytes, or str when the client decodes responses)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(f"expected bytes or str from Redis, got {type(value).__name__}")


class RedisStore:
    """The shared store: every process that points at the same Redis sees the same state."""

    def __init__(self, client: redis.Redis, clock: Clock, prefix: str = "lj:") -> None:
        self._client = client
        self._clock = clock
        self._prefix = prefix
        self._closed = False
        self._revoke = client.register_script(_REVOKE_LUA)
        self._assign_room = client.register_script(_ASSIGN_ROOM_LUA)
        self._release_room = client.register_script(_RELEASE_ROOM_LUA)
        self._prune_worker = client.register_script(_PRUNE_WORKER_LUA)
        self._swap_member = client.register_script(_SWAP_MEMBER_LUA)
        self._register_node = client.register_script(_REGISTER_NODE_LUA)
        self._claim_node = client.register_script(_CLAIM_NODE_LUA)
        self._forget_node = client.register_script(_FORGET_NODE_LUA)
        self._node_beats = client.register_script(_NODE_BEATS_LUA)
        self._present = client.register_script(_PRESENT_LUA)
        self._swap_present = client.register_script(_SWAP_PRESENT_LUA)
        self._live_room_worker = client.register_script(_LIVE_ROOM_WORKER_LUA)

    @classmethod
    async def from_url(
        cls,
        url: str,
        clock: Clock,
        prefix: str = "lj:",
        options: RedisOptions | None = None,
    ) -> RedisStore:
        """A store with its own connection pool to `url` (closed by `close`)."""
        client = redis_client(url, options or RedisOptions())
        try:
            await client.ping()  # fail at start, not on the first request
        except BaseException:
            await client.aclose()
            raise
        return cls(client, clock, prefix)

    @property
    def client(self) -> redis.Redis:
        """The store's connection pool, for other shared state kept beside it (the rate
        limits of `signalling.limits`); closed with the store."""
        return self._client

    @property
    def prefix(self) -> str:
        """What every key of this store starts with ("lj:" by default)."""
        return self._prefix

    def _key(self, template: str, **parts: str) -> str:
        return self._prefix + template.format(**parts)

    def _ttl_ms(self, until: float) -> int:
        """Milliseconds until `until` on our clock; at least a second, as Redis needs a TTL."""
        return max(1000, math.ceil((until - self._clock.now()) * 1000))

    # token revocation

    async def revoke(self, jti: str, until: float) -> None:
        """Remember a revoked token id until it would have expired anyway."""
        await self._revoke(
            keys=[self._key(REVOKED_KEY, jti=jti)], args=[repr(float(until)), self._ttl_ms(until)]
        )

    async def is_revoked(self, jti: str) -> bool:
        raw = await self._client.get(self._key(REVOKED_KEY, jti=jti))
        return raw is not None and float(raw) > self._clock.now()

    # room presence

    async def set_member(self, appointment_id: str, member: Member) -> None:
        await self._client.hset(
            self._key(MEMBERS_KEY, id=appointment_id),
            member.participant_id,
            _dumps(member.to_dict()),
        )

    async def get_members(self, appointment_id: str) -> dict[str, Member]:
        raw = await self._client.hgetall(self._key(MEMBERS_KEY, id=appointment_id))
        return {redis_text(k): Member.from_dict(json.loads(v)) for k, v in raw.items()}

    async def delete_member(self, appointment_id: str, participant_id: str) -> None:
        # Redis deletes the hash with its last field, as MemoryStore drops an empty room.
        await self._client.hdel(self._key(MEMBERS_KEY, id=appointment_id), participant_id)

    async def swap_member(self, appointment_id: str, current: Member, new: Member | None) -> bool:
        swapped = await self._swap_member(
            keys=[self._key(MEMBERS_KEY, id=appointment_id)],
            args=[
                current.participant_id,
                current.conn,
                current.status,
                "" if new is None else _dumps(new.to_dict()),
            ],
        )
        return bool(swapped)

    async def clear_members(self, appointment_id: str) -> None:
        await self._client.delete(
            self._key(MEMBERS_KEY, id=appointment_id),
            self._key(PANEL_KEY, id=appointment_id),
            self._key(LOBBY_NOTE_KEY, id=appointment_id),
        )

    async def set_panel(self, appointment_id: str, shown: ShownPanel | None, until: float) -> None:
        key = self._key(PANEL_KEY, id=appointment_id)
        if shown is None or until <= self._clock.now():
            await self._client.delete(key)
            return
        value = _dumps({"shown": shown.to_dict(), "until": until})
        await self._client.set(key, value, px=self._ttl_ms(until))

    async def get_panel(self, appointment_id: str) -> ShownPanel | None:
        raw = await self._client.get(self._key(PANEL_KEY, id=appointment_id))
        if raw is None:
            return None
        kept = json.loads(raw)
        if float(kept["until"]) <= self._clock.now():
            return None
        return shown_panel_from_dict(kept["shown"])

    async def set_lobby_note(self, appointment_id: str, note: LobbyNote, until: float) -> None:
        if until <= self._clock.now():
            return
        value = _dumps({"note": note.to_dict(), "until": until})
        await self._client.set(
            self._key(LOBBY_NOTE_KEY, id=appointment_id), value, px=self._ttl_ms(until)
        )

    async def get_lobby_note(self, appointment_id: str) -> LobbyNote | None:
        raw = await self._client.get(self._key(LOBBY_NOTE_KEY, id=appointment_id))
        if raw is None:
            return None
        kept = json.loads(raw)
        if float(kept["until"]) <= self._clock.now():
            return None
        return LobbyNote.from_dict(kept["note"])

    # signalling nodes, media worker registry and room placement

    async def register_node(self, node_id: str, ttl: float) -> bool:
        now = self._clock.now()
        expires_at = now + ttl
        was_live = await self._register_node(
            keys=[self._key(NODE_KEY, id=node_id), self._key(NODES_KEY)],
            args=[node_id, repr(expires_at), self._ttl_ms(expires_at), repr(now)],
        )
        return bool(was_live)

    async def live_nodes(self) -> set[str]:
        # Asked at every presence change (each admission, join, leave): one round trip over
        # the node index, not a SCAN of the whole keyspace (which grows with the rooms). The
        # script reads node keys it is not given (fine on one Redis; never run on a Cluster).
        pairs = await self._node_beats(
            keys=[self._key(NODES_KEY)], args=[self._key(NODE_KEY, id="")]
        )
        return self._live(pairs)

    def _live(self, pairs: list[Any]) -> set[str]:
        """The node ids of [id, beat, ...] whose beat lies ahead on our clock."""
        now = self._clock.now()
        return {
            redis_text(pairs[i])
            for i in range(0, len(pairs), 2)
            if float(redis_text(pairs[i + 1])) > now
        }

    async def present_members(self, appointment_id: str) -> dict[str, Member]:
        members, pairs = await self._present(
            keys=[self._key(NODES_KEY), self._key(MEMBERS_KEY, id=appointment_id)],
            args=[self._key(NODE_KEY, id="")],
        )
        return self._present_of(members, pairs)

    async def swap_member_present(
        self, appointment_id: str, current: Member, new: Member | None
    ) -> dict[str, Member] | None:
        found = await self._swap_present(
            keys=[self._key(NODES_KEY), self._key(MEMBERS_KEY, id=appointment_id)],
            args=[
                self._key(NODE_KEY, id=""),
                current.participant_id,
                current.conn,
                current.status,
                "" if new is None else _dumps(new.to_dict()),
            ],
        )
        if found is None:
            return None
        members, pairs = found
        return self._present_of(members, pairs)

    def _present_of(self, members: list[Any], pairs: list[Any]) -> dict[str, Member]:
        if not members:
            return {}
        live = self._live(pairs)
        found = (
            (redis_text(members[i]), Member.from_dict(json.loads(members[i + 1])))
            for i in range(0, len(members), 2)
        )
        return {pid: member for pid, member in found if member.node in live}

    async def lapsed_nodes(self) -> set[str]:
        ids = sorted(redis_text(i) for i in await self._client.smembers(self._key(NODES_KEY)))
        if not ids:
            return set()
        beats = await self._client.mget([self._key(NODE_KEY, id=i) for i in ids])
        now = self._clock.now()
        return {
            node
            for node, beat in zip(ids, beats, strict=True)
            if beat is None or float(redis_text(beat)) <= now
        }

    async def claim_node(self, node_id: str, by: str, ttl: float) -> bool:
        now = self._clock.now()
        expires_at = now + ttl
        claimed = await self._claim_node(
            keys=[self._key(NODE_KEY, id=node_id), self._key(NODE_CLAIM_KEY, id=node_id)],
            args=[
                repr(now),
                _dumps({"by": by, "expires_at": expires_at}),
                self._ttl_ms(expires_at),
            ],
        )
        return bool(claimed)

    async def node_claimed(self, node_id: str) -> bool:
        raw = await self._client.get(self._key(NODE_CLAIM_KEY, id=node_id))
        return raw is not None and float(json.loads(raw)["expires_at"]) > self._clock.now()

    async def forget_node(self, node_id: str, by: str) -> None:
        await self._forget_node(
            keys=[
                self._key(NODE_KEY, id=node_id),
                self._key(NODES_KEY),
                self._key(NODE_CLAIM_KEY, id=node_id),
            ],
            args=[node_id, by, repr(self._clock.now())],
        )

    async def rooms_with_members(self) -> list[str]:
        head, tail = self._key(MEMBERS_KEY, id=""), ":members"
        start = head[: -len(tail)]  # "lj:room:"
        rooms = []
        async for key in self._client.scan_iter(match=start + "*" + tail, count=500):
            rooms.append(redis_text(key)[len(start) : -len(tail)])
        return rooms

    async def register_worker(self, info: WorkerInfo, ttl: float) -> None:
        expires_at = self._clock.now() + ttl
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(
                self._key(WORKER_KEY, id=info.id),
                _dumps({"info": info.to_dict(), "expires_at": expires_at}),
                px=self._ttl_ms(expires_at),
            )
            pipe.sadd(self._key(WORKERS_KEY), info.id)
            await pipe.execute()

    async def list_workers(self) -> list[WorkerInfo]:
        """Workers whose registration has not expired, by id."""
        index = self._key(WORKERS_KEY)
        ids = sorted(redis_text(i) for i in await self._client.smembers(index))
        if not ids:
            return []
        keys = [self._key(WORKER_KEY, id=i) for i in ids]
        raws = await self._client.mget(keys)
        now = self._clock.now()
        live: list[WorkerInfo] = []
        for worker_id, key, raw in zip(ids, keys, raws, strict=True):
            if raw is None:
                await self._prune_worker(keys=[key, index], args=[worker_id])
                continue
            entry = json.loads(raw)
            if float(entry["expires_at"]) > now:
                live.append(WorkerInfo.from_dict(entry["info"]))
        return live

    async def remove_worker(self, worker_id: str) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(WORKER_KEY, id=worker_id))
            pipe.srem(self._key(WORKERS_KEY), worker_id)
            await pipe.execute()

    async def assign_room(self, appointment_id: str, worker_id: str, ttl: float) -> str:
        """Place a room on a worker unless it already has one (SET NX); return the holder."""
        now = self._clock.now()
        expires_at = now + ttl
        holder = await self._assign_room(
            keys=[self._key(ROOM_WORKER_KEY, id=appointment_id)],
            args=[
                worker_id,
                repr(now),
                _dumps({"worker": worker_id, "expires_at": expires_at}),
                self._ttl_ms(expires_at),
            ],
        )
        return redis_text(holder)

    async def get_room_worker(self, appointment_id: str) -> str | None:
        raw = await self._client.get(self._key(ROOM_WORKER_KEY, id=appointment_id))
        return self._placement(raw)

    def _placement(self, raw: bytes | str | None) -> str | None:
        if raw is None:
            return None
        held = json.loads(raw)
        if float(held["expires_at"]) <= self._clock.now():
            return None
        return str(held["worker"])

    async def room_workers(self, appointment_ids: Sequence[str]) -> dict[str, str]:
        """The placements of those rooms that have one (one MGET)."""
        if not appointment_ids:
            return {}
        raws = await self._client.mget(
            [self._key(ROOM_WORKER_KEY, id=room) for room in appointment_ids]
        )
        held = {room: self._placement(raw) for room, raw in zip(appointment_ids, raws, strict=True)}
        return {room: worker for room, worker in held.items() if worker is not None}

    async def live_room_worker(self, appointment_id: str) -> str | None:
        held = await self._live_room_worker(
            keys=[self._key(ROOM_WORKER_KEY, id=appointment_id)],
            args=[self._key(WORKER_KEY, id=""), repr(self._clock.now())],
        )
        return None if held is None else redis_text(held)

    async def release_room(self, appointment_id: str, worker_id: str) -> None:
        """Forget the placement only if `worker_id` still holds it (compare and delete)."""
        await self._release_room(
            keys=[self._key(ROOM_WORKER_KEY, id=appointment_id)], args=[worker_id]
        )

    async def close(self) -> None:
        """Close the client and its connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._client.aclose()
