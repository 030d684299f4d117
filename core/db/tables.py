"""The tables of durable records (SQLAlchemy Core metadata).

Times are epoch seconds as double-precision floats, as the domain dataclasses hold them, so a
record round-trips exactly. Later tables (documents, e-learning) join this metadata with
their own migration.
"""

from __future__ import annotations

import sqlalchemy as sa

# Constraint names follow one convention so that migrations can name what they alter.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

staff_accounts = sa.Table(
    "staff_accounts",
    metadata,
    sa.Column("username", sa.String(200), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(500), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
)

# Console sessions: only the hash of the cookie value is stored. No foreign key to the account:
# a session outlives nothing it must point at, and expires by its own time.
staff_sessions = sa.Table(
    "staff_sessions",
    metadata,
    sa.Column("session_hash", sa.String(128), primary_key=True),
    sa.Column("username", sa.String(200), nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False, index=True),
)

appointments = sa.Table(
    "appointments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("starts_at", sa.Double, nullable=False),
    sa.Column("ends_at", sa.Double, nullable=False, index=True),  # retention purges by it
    sa.Column("waiting_room", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("ended_at", sa.Double, nullable=True),
    sa.Column("notes", sa.Text, nullable=False, server_default=""),  # 0007
    sa.Column("kind", sa.String(16), nullable=False, server_default="video"),  # 0010
    sa.Column("place", sa.Text, nullable=False, server_default=""),  # 0010
    sa.Column("address", sa.Text, nullable=False, server_default=""),  # 0010
    sa.Column("bring", sa.Text, nullable=False, server_default=""),  # 0010
    sa.Index(None, "starts_at", "id"),  # the calendar lists by (start, id)
)

participants = sa.Table(
    "participants",
    metadata,
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),  # order within the appointment
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("lang", sa.String(16), nullable=False),
    # SHA-256 of the invite code; one link resolves to one participant.
    sa.Column("invite_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("not_before", sa.Double, nullable=False),
    # The profile a jobseeker participant stands for (migration 0003). No foreign key: the
    # appointment's record stands on its own and goes by retention, not with the profile.
    sa.Column("profile_id", sa.String(64), nullable=True, index=True),
)

# Attendance events, consent among them (event "consent"), in arrival order (`seq`). No
# foreign key: events are kept per appointment id as the stores always have, and go with the
# appointment when retention purges it.
attendance = sa.Table(
    "attendance",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),  # SQLite autoincrements INTEGER only
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("appointment_id", sa.String(64), nullable=False),
    sa.Column("participant_id", sa.String(64), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Index(None, "appointment_id", "seq"),
)

# The audit trail (core.audit): one row per entry, `seq` without gaps, each row's `hash`
# chaining it to the one before. Appends take turns through the primary key: two nodes that
# both try `seq` n+1 collide, and the loser chains again on the winner's entry.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("actor_role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("profile_id", sa.String(64), nullable=True, index=True),
    # indexed (0006): a profile's trail takes in the entries of its appointments
    sa.Column("appointment_id", sa.String(64), nullable=True, index=True),
    sa.Column("document_id", sa.String(64), nullable=True),
    sa.Column("subject", sa.String(64), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),  # canonical JSON of ids and numbers
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# Jobseeker profiles (migration 0003). Only the SHA-256 of the space code is kept; the version
# counts issues and revocations of the link (device sessions of an older one are void).
profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("lang", sa.String(16), nullable=False),
    sa.Column("phone", sa.String(64), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("space_link_hash", sa.String(128), nullable=True, unique=True),
    sa.Column("space_link_version", sa.Integer, nullable=False),
)

# Device sessions in a jobseeker's space: only the hash of the cookie value is stored.
space_sessions = sa.Table(
    "space_sessions",
    metadata,
    sa.Column("session_hash", sa.String(128), primary_key=True),
    sa.Column(
        "profile_id",
        sa.String(64),
        sa.ForeignKey("profiles.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("last_seen", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False, index=True),
    sa.Column("link_version", sa.Integer, nullable=False),
)

# The application folders' documents: metadata and the wrapped data key (core.documents); the
# sealed bytes live in the blob store, never here. Deleting the row shreds the document.
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("profile_id", sa.String(64), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("media_type", sa.String(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("pages", sa.Integer, nullable=False),
    sa.Column("uploaded_by", sa.String(200), nullable=False),
    sa.Column("uploaded_at", sa.Double, nullable=False),
    sa.Column("last_used_at", sa.Double, nullable=False, index=True),  # retention
    sa.Column("key_kid", sa.String(32), nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
)

# The jobseeker's consent to show a document to the others in one call.
document_consents = sa.Table(
    "document_consents",
    metadata,
    sa.Column(
        "document_id",
        sa.String(64),
        sa.ForeignKey("documents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("appointment_id", sa.String(64), primary_key=True),
    sa.Column("given_at", sa.Double, nullable=False),
    sa.Column("withdrawn_at", sa.Double, nullable=True),
)

# Help requests from the jobseeker's space (core.help, migration 0005). Retention deletes a
# closed request a set time after its last change (`updated_at`), with its replies.
help_requests = sa.Table(
    "help_requests",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("profile_id", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # The appointment childcare is wanted for. No foreign key: the request stands on its own
    # and goes by its own retention, not with the appointment.
    sa.Column("appointment_id", sa.String(64), nullable=True),
    sa.Column("child_ages", sa.String(64), nullable=False),  # "3,7": ages, comma-separated
    sa.Column("created_at", sa.Double, nullable=False, index=True),  # the inbox: newest first
    sa.Column("updated_at", sa.Double, nullable=False, index=True),
)

# Caseworkers' answers and notes on a help request, in order (`seq`).
help_replies = sa.Table(
    "help_replies",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "request_id",
        sa.String(64),
        sa.ForeignKey("help_requests.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)

# E-learning (core.learning, migration 0007). Every table names its profile with a cascading
# foreign key: erasing a profile erases its learning records in the same statement, and
# they live exactly as long as the profile does.
# xAPI statements, one per step, in the order they were recorded (`seq`); `statement` holds
# the full statement's JSON, the other columns what progress views read.
learning_statements = sa.Table(
    "learning_statements",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "profile_id",
        sa.String(64),
        sa.ForeignKey("profiles.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("module_id", sa.String(64), nullable=False),
    sa.Column("section_id", sa.String(64), nullable=True),
    sa.Column("question_id", sa.String(64), nullable=True),
    sa.Column("verb", sa.String(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=True),
    sa.Column("score", sa.Double, nullable=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("statement", sa.Text, nullable=False),
    sa.Index(None, "profile_id", "module_id", "seq"),
)

# Where a learner comes back to in a module.
learning_resume = sa.Table(
    "learning_resume",
    metadata,
    sa.Column(
        "profile_id",
        sa.String(64),
        sa.ForeignKey("profiles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("module_id", sa.String(64), primary_key=True),
    sa.Column("section_id", sa.String(64), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)

# A caseworker's recommendation of a module, with an optional due date (YYYY-MM-DD).
learning_recommendations = sa.Table(
    "learning_recommendations",
    metadata,
    sa.Column(
        "profile_id",
        sa.String(64),
        sa.ForeignKey("profiles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("module_id", sa.String(64), primary_key=True),
    sa.Column("due", sa.String(10), nullable=True),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)

# SCORM 1.2 packages imported through the console (migration 0009); their files live under
# <data_dir>/scorm/<id>. Not tied to a profile: a course is the job centre's, for everyone.
scorm_packages = sa.Table(
    "scorm_packages",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("identifier", sa.String(200), nullable=False),
    sa.Column("launch", sa.String(1000), nullable=False),
    sa.Column("content_key", sa.String(64), nullable=False, unique=True),
    sa.Column("files", sa.Integer, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mastery_score", sa.Double, nullable=True),
    sa.Column("imported_by", sa.String(200), nullable=False),
    sa.Column("imported_at", sa.Double, nullable=False),
)

# Where a learner left a SCORM course (cmi.core.lesson_location, cmi.suspend_data), with its
# profile like the other learning records.
scorm_places = sa.Table(
    "scorm_places",
    metadata,
    sa.Column(
        "profile_id",
        sa.String(64),
        sa.ForeignKey("profiles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("module_id", sa.String(64), primary_key=True),
    sa.Column("location", sa.String(255), nullable=False),
    sa.Column("suspend_data", sa.Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
)
