"""The stores of the deployment, split by consumer (as LiveKit splits its stores), so that each
part depends only on what it uses: the media worker on the registry alone.

- `AppointmentStore`: appointments, their invite index and attendance (durable records).
- `AccountStore`: staff accounts and console sessions (durable records).
- `ProfileStore`: jobseeker profiles, their space links and device sessions (durable records).
- `HelpStore`: help requests from the space and the caseworkers' replies (durable records).
- `LearningStore`: xAPI learning statements, resume points and recommendations (durable).
- `PresenceStore`: who is in which room on which node, node heartbeats, revoked token ids
  (ephemeral, shared between processes).
- `RegistryStore`: the media worker registry and room placement (ephemeral, shared).

Durable records live in a relational database: `core.store.sql.SqlStore` implements
`AppointmentStore`, `AccountStore` and `ProfileStore` (SQLite embedded, PostgreSQL in
production). Ephemeral state lives in `core.store.memory.MemoryStore` (one process) or
`core.store.redisstore.RedisStore` (shared between processes), which implement `PresenceStore`
and `RegistryStore`: losing them may interrupt calls, never a record.
`core.store.wiring.open_stores` picks them from the settings.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.audit import AuditLog
from core.documents.access import Consent, DocumentMeta
from core.documents.sealing import WrappedKey
from core.help import HelpReply, HelpRequest, HelpStatus
from core.learning.records import (
    LearningStatement,
    Recommendation,
    ResumePoint,
    ScormPackage,
    ScormPlace,
)
from core.model import (
    Appointment,
    AttendanceEvent,
    LobbyNote,
    Member,
    Profile,
    ShownPanel,
    SpaceSession,
    StaffUser,
    WorkerInfo,
)

# Attendance events kept per appointment: a link holder re-joining in a loop cannot grow it
# without bound; the first events (who came, when) are the ones kept.
MAX_ATTENDANCE = 500


class Closable(Protocol):
    async def close(self) -> None:
        """Release connections; idempotent."""
        ...


class AppointmentStore(Closable, Protocol):
    async def put_appointment(self, appointment: Appointment) -> None:
        """Create or replace an appointment and index its participants' invite hashes."""
        ...

    async def get_appointment(
        self, appointment_id: str, *, max_age: float = 0.0
    ) -> Appointment | None:
        """The appointment as stored. With `max_age`, a copy this process read at most that
        many seconds ago will do, unless this store wrote it since (another process's
        write may then take up to `max_age` to show)."""
        ...

    async def get_appointments(self, appointment_ids: Collection[str]) -> dict[str, Appointment]:
        """Those of these appointments that exist, by id, read fresh (a few statements for
        any number: the hub's sweep reads every room of the node at once)."""
        ...

    async def list_appointments(
        self,
        *,
        starts_after: float | None = None,
        starts_before: float | None = None,
        profile_id: str | None = None,
    ) -> list[Appointment]:
        """Appointments ordered by start time, optionally within [after, before) and only
        those with a participant standing for `profile_id`."""
        ...

    async def find_invite(self, invite_hash: str) -> tuple[str, str] | None:
        """(appointment id, participant id) for an invite hash, or None."""
        ...

    async def add_attendance(self, event: AttendanceEvent) -> None: ...

    async def list_attendance(self, appointment_id: str) -> list[AttendanceEvent]: ...

    async def purge_appointments(self, ended_before: float) -> list[str]:
        """Delete appointments whose window ended before the given time, with their invites
        and attendance; returns the ids that went."""
        ...


class AccountStore(Closable, Protocol):
    async def put_staff(self, user: StaffUser) -> None: ...

    async def get_staff(self, username: str) -> StaffUser | None: ...

    async def put_session(self, session_hash: str, username: str, expires_at: float) -> None: ...

    async def get_session(self, session_hash: str) -> str | None:
        """The username of a live session, or None when unknown or expired."""
        ...

    async def delete_session(self, session_hash: str) -> None: ...


class ProfileStore(Closable, Protocol):
    async def put_profile(self, profile: Profile) -> None:
        """Create a profile, or update the name, language and phone of an existing one (its
        space link is changed only through `set_space_link`)."""
        ...

    async def update_profile(self, profile: Profile) -> Profile | None:
        """Change the name, language and phone of an existing profile; None if there is none
        (an edit racing a deletion must not bring the profile, or its link, back)."""
        ...

    async def get_profile(self, profile_id: str) -> Profile | None: ...

    async def find_profiles(self, query: str = "", limit: int = 50) -> list[Profile]:
        """Profiles whose name contains `query` (case-insensitive), ordered by name."""
        ...

    async def profile_for_link(self, link_hash: str) -> Profile | None:
        """The profile whose active space link has this hash, or None."""
        ...

    async def set_space_link(self, profile_id: str, link_hash: str | None) -> Profile | None:
        """Issue (a hash) or revoke (None) a profile's space link: the version goes up and
        every device session of the profile ends, in one transaction. None: no such profile."""
        ...

    async def delete_profile(self, profile_id: str) -> bool:
        """Delete a profile and its device sessions in one transaction (the jobseeker's right
        to erasure; their documents go through the folder first). False: no such profile."""
        ...

    async def put_space_session(self, session: SpaceSession) -> None: ...

    async def get_space_session(self, session_hash: str) -> SpaceSession | None:
        """A live session: not idle past its expiry and opened from the profile's current
        link (an older link version, or a revoked link, ends it). A dead one is deleted."""
        ...

    async def touch_space_session(self, session_hash: str, expires_at: float) -> None:
        """Note activity now and move the idle expiry on."""
        ...

    async def delete_space_session(self, session_hash: str) -> None: ...

    async def purge_space_sessions(self) -> int:
        """Delete sessions past their expiry; returns how many went."""
        ...


class DocumentStore(Closable, Protocol):
    """Document records of the application folders (with their wrapped keys) and consents."""

    @property
    def audit(self) -> AuditLog: ...

    async def put_document(self, meta: DocumentMeta, wrapped: WrappedKey) -> None: ...

    async def get_document(self, document_id: str) -> tuple[DocumentMeta, WrappedKey] | None: ...

    async def list_documents(self, profile_id: str) -> list[DocumentMeta]:
        """Newest first."""
        ...

    async def touch_document(self, document_id: str, at: float) -> None:
        """Note a use (retention counts from the last one)."""
        ...

    async def delete_document(self, document_id: str) -> bool: ...

    async def documents_unused_since(self, cutoff: float) -> list[DocumentMeta]: ...

    async def wrapped_keys(
        self, not_kid: str, limit: int = 500
    ) -> list[tuple[str, WrappedKey]]: ...

    async def replace_wrapped_key(
        self, document_id: str, old: WrappedKey, new: WrappedKey
    ) -> bool: ...

    async def set_consent(self, consent: Consent) -> None: ...

    async def consents(self, appointment_id: str) -> list[Consent]: ...


class HelpStore(Closable, Protocol):
    """Help requests from the jobseeker's space and the caseworkers' answers and notes."""

    async def add_help_request(self, request: HelpRequest, max_open: int) -> bool:
        """Store a new request unless its profile has `max_open` requests not yet closed."""
        ...

    async def get_help_request(self, request_id: str) -> HelpRequest | None:
        """The request with its replies in order."""
        ...

    async def list_help_requests(
        self, profile_id: str | None = None, limit: int = 200
    ) -> list[HelpRequest]:
        """Newest first, with replies; one profile's, or all (the inbox)."""
        ...

    async def add_help_reply(self, reply: HelpReply, max_replies: int) -> bool:
        """Add an answer or note (the request's last change moves to its time); False if the
        request is gone or already holds `max_replies`."""
        ...

    async def set_help_status(self, request_id: str, status: HelpStatus, at: float) -> bool: ...

    async def purge_help_requests(self, closed_before: float) -> list[HelpRequest]:
        """Delete closed requests last changed before the given time, with their replies."""
        ...


class LearningStore(Closable, Protocol):
    """E-learning records; each goes with its profile."""

    async def add_statement(self, statement: LearningStatement, max_per_module: int) -> bool:
        """Store a statement unless the profile holds `max_per_module` for its module."""
        ...

    async def list_statements(
        self, profile_id: str, module_id: str | None = None, limit: int = 5000
    ) -> list[LearningStatement]:
        """A profile's statements in recorded order (the newest `limit` of them)."""
        ...

    async def set_resume(self, point: ResumePoint) -> None: ...

    async def resume_points(self, profile_id: str) -> dict[str, ResumePoint]: ...

    async def put_recommendation(self, recommendation: Recommendation) -> None:
        """Create or replace the recommendation of a module to a profile."""
        ...

    async def list_recommendations(self, profile_id: str) -> list[Recommendation]: ...

    async def module_recommendations(self, module_id: str) -> list[Recommendation]:
        """Everyone a module is recommended to, oldest recommendation first."""
        ...

    async def delete_recommendation(self, profile_id: str, module_id: str) -> bool: ...

    async def add_package(self, package: ScormPackage) -> None:
        """Record an imported SCORM 1.2 package."""
        ...

    async def list_packages(self) -> list[ScormPackage]: ...

    async def get_package(self, package_id: str) -> ScormPackage | None: ...

    async def package_by_key(self, content_key: str) -> ScormPackage | None: ...

    async def set_scorm_place(self, place: ScormPlace) -> None:
        """Keep where a learner left a SCORM course (replacing the earlier place)."""
        ...

    async def get_scorm_place(self, profile_id: str, module_id: str) -> ScormPlace | None: ...


class PresenceStore(Closable, Protocol):
    # token revocation
    async def revoke(self, jti: str, until: float) -> None:
        """Remember a revoked token id until it would have expired anyway."""
        ...

    async def is_revoked(self, jti: str) -> bool: ...

    # room presence
    async def set_member(self, appointment_id: str, member: Member) -> None: ...

    async def get_members(self, appointment_id: str) -> dict[str, Member]: ...

    async def delete_member(self, appointment_id: str, participant_id: str) -> None: ...

    async def swap_member(self, appointment_id: str, current: Member, new: Member | None) -> bool:
        """Replace (or, with None, delete) a member only if the stored one still has
        `current`'s connection and status (compare and set); False if it changed meanwhile."""
        ...

    async def swap_member_present(
        self, appointment_id: str, current: Member, new: Member | None
    ) -> dict[str, Member] | None:
        """`swap_member`, then `present_members` as it stands after the swap, in one step;
        None if the swap did not happen."""
        ...

    async def clear_members(self, appointment_id: str) -> None:
        """Forget a room's presence, and with it the document its panel shows."""
        ...

    # the document a room's panel shows, for who joins or reconnects later
    async def set_panel(self, appointment_id: str, shown: ShownPanel | None, until: float) -> None:
        """Keep (or, with None, forget) what the room's panel shows, at most until `until`
        (the appointment's end)."""
        ...

    async def get_panel(self, appointment_id: str) -> ShownPanel | None: ...

    # the latest message to the room's waiting room, for who starts waiting later
    async def set_lobby_note(self, appointment_id: str, note: LobbyNote, until: float) -> None:
        """Keep the room's latest waiting-room message at most until `until` (the
        appointment's end); `clear_members` forgets it with the presence."""
        ...

    async def get_lobby_note(self, appointment_id: str) -> LobbyNote | None: ...

    # signalling node liveness: presence held by a node that died is not shown as present,
    # and one surviving node takes its members over (signalling.room.node_watch)
    async def register_node(self, node_id: str, ttl: float) -> bool:
        """Renew a node's registration for `ttl`; True if it was live until now (False on the
        first registration, or when it had lapsed and others may have taken it over)."""
        ...

    async def live_nodes(self) -> set[str]: ...

    async def present_members(self, appointment_id: str) -> dict[str, Member]:
        """The room's members held by live nodes: `get_members` without those of a node
        that is not in `live_nodes`, in one read (asked at every presence change)."""
        ...

    async def lapsed_nodes(self) -> set[str]:
        """Nodes that registered, whose registration lapsed, and that were not forgotten."""
        ...

    async def claim_node(self, node_id: str, by: str, ttl: float) -> bool:
        """Claim a lapsed node's takeover for `by` for `ttl` seconds: True for exactly one
        claimant, False while another's claim lasts or when the node is live again."""
        ...

    async def node_claimed(self, node_id: str) -> bool:
        """Whether a claim on the node's takeover lasts."""
        ...

    async def forget_node(self, node_id: str, by: str) -> None:
        """After a takeover: release `by`'s claim, and drop the node from the registered ones
        unless it registered again meanwhile."""
        ...

    async def rooms_with_members(self) -> list[str]:
        """Every appointment with stored presence (a scan: for the rare takeover only)."""
        ...


class RegistryStore(Closable, Protocol):
    async def register_worker(self, info: WorkerInfo, ttl: float) -> None: ...

    async def list_workers(self) -> list[WorkerInfo]:
        """Workers whose registration has not expired."""
        ...

    async def remove_worker(self, worker_id: str) -> None: ...

    async def assign_room(self, appointment_id: str, worker_id: str, ttl: float) -> str:
        """Place a room on a worker unless it already has one (SET NX); return the holder."""
        ...

    async def get_room_worker(self, appointment_id: str) -> str | None: ...

    async def room_workers(self, appointment_ids: Sequence[str]) -> dict[str, str]:
        """The placements of those of these rooms that have one: room -> worker."""
        ...

    async def live_room_worker(self, appointment_id: str) -> str | None:
        """The room's worker if the room is placed and that worker's registration has not
        expired (what `get_room_worker` and `list_workers` together would say, in one step)."""
        ...

    async def release_room(self, appointment_id: str, worker_id: str) -> None:
        """Forget the placement only if `worker_id` still holds it (compare and delete)."""
        ...


class DurableStore(
    AppointmentStore, AccountStore, ProfileStore, DocumentStore, HelpStore, LearningStore, Protocol
):
    """The durable records in one object (the SQL store)."""


class EphemeralStore(PresenceStore, RegistryStore, Protocol):
    """The ephemeral shared state in one object (the memory and Redis stores)."""


@dataclass(frozen=True)
class Stores:
    """The stores a signalling process runs on, picked at wiring time."""

    appointments: AppointmentStore
    accounts: AccountStore
    presence: PresenceStore
    registry: RegistryStore
    profiles: ProfileStore
    documents: DocumentStore
    help: HelpStore
    learning: LearningStore

    @classmethod
    def of(cls, durable: DurableStore, ephemeral: EphemeralStore) -> Stores:
        """The durable records from one store, the ephemeral state from another."""
        return cls(durable, durable, ephemeral, ephemeral, durable, durable, durable, durable)

    async def close(self) -> None:
        """Close each distinct store once."""
        seen: list[Closable] = []
        stores = (
            self.appointments,
            self.accounts,
            self.presence,
            self.registry,
            self.profiles,
            self.documents,
            self.help,
            self.learning,
        )
        for store in stores:
            if not any(store is s for s in seen):
                seen.append(store)
                await store.close()
