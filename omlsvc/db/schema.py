"""The schema, as SQLAlchemy Core tables.

Identifiers stay within 30 characters and types are portable, so the same metadata creates the
schema on SQLite, PostgreSQL and Oracle; ``sql/<dialect>/schema.sql`` holds the same DDL for DBAs
who create schemas by hand, and tests keep the two in step. Timestamps are naive UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import oracle

#: Oracle's DATE has no fractional seconds; API timestamps carry milliseconds.
Timestamp = DateTime().with_variant(oracle.TIMESTAMP(), "oracle")

#: Bumped whenever the tables change; ``omlsvc db init`` records it in ``schema_info``.
SCHEMA_VERSION = 4

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

metadata = MetaData(naming_convention=NAMING)

schema_info = Table(
    "schema_info",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("password_hash", String(255), nullable=False),
    Column("roles", String(255), nullable=False),
    Column("disabled", Boolean(create_constraint=False), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    # Schema version 3. The user's database identity: the PostgreSQL role a job runs as (SET LOCAL
    # ROLE), the Oracle schema it proxies to; NULL means the user's own name.
    Column("db_role", String(128)),
    # Bumped by a password change, disable or role change: tokens carry the generation they were issued
    # under, and an older one is refused, so ending someone's access ends every session they had.
    Column("generation", Integer, nullable=False, server_default="0"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", Timestamp, nullable=False, index=True),
)

# Failed logins per throttling key ("user:NAME" or "addr:IP"), shared by every worker and instance
# (schema version 3): a key with failures waits exponentially longer; a success deletes its row.
login_failures = Table(
    "login_failures",
    metadata,
    Column("throttle_key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("blocked_until", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False, index=True),
)

models = Table(
    "models",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(50), nullable=False),
    Column("version", String(8), nullable=False),
    Column("model_type", String(16), nullable=False),
    Column("namespace", String(50)),
    Column("description", String(4000)),
    Column("shared", Boolean(create_constraint=False), nullable=False),
    Column("owner", String(128), ForeignKey("users.name"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("chunk_count", Integer, nullable=False),
    Column("mining_function", String(32), nullable=False),
    Column("spec", Text, nullable=False),
    Column("model_metadata", Text, nullable=False),
    # Schema version 4 (issue 15): the model this one was derived from by a variant task and how,
    # as JSON ``{"modelId", "kind"}``; NULL for an upload or an import. No foreign key: the source
    # may be deleted, its variants stay and still say where they came from.
    Column("derived_from", String(200)),
    UniqueConstraint("owner", "name", "version"),
    Index("ix_models_name", "name"),
)

model_chunks = Table(
    "model_chunks",
    metadata,
    Column("model_id", String(36), ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

# Models shared with named users (schema version 3); ``models.shared`` still means everyone.
model_grants = Table(
    "model_grants",
    metadata,
    Column("model_id", String(36), ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("username", String(128), ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    Column("permission", String(16), nullable=False),
    Column("granted_by", String(128), nullable=False),
    Column("granted_at", Timestamp, nullable=False),
    Index("ix_model_grants_username", "username"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("uri", String(200), primary_key=True),
    Column("model_id", String(36), ForeignKey("models.id"), nullable=False, unique=True),
    Column("owner", String(128), ForeignKey("users.name"), nullable=False),
    Column("created_at", Timestamp, nullable=False),
    # the deployment's own time limit for a model run (null: OMLSVC_SCORE_TIMEOUT)
    Column("score_timeout_s", Float, nullable=True),
    # A canary beside the main model (both null when there is none): that percent (1-99) of score
    # requests goes to ``canary_model_id``. Added in place by ``omlsvc db upgrade`` (nullable).
    Column("canary_model_id", String(36), ForeignKey("models.id")),
    Column("canary_percent", Integer),
    # A deployment that cuts its model into a feature extractor at this graph value (issue 16; null:
    # the whole model). Added in place by ``omlsvc db upgrade`` (nullable).
    Column("output_tensor", String(1024)),
)

# Every change of the model behind a deployment's URI, one row each: the deploy itself, a swap, a
# rollback, a canary set, promoted or removed. ``seq`` grows per URI; ``previous_model_id`` is the main
# model before the change (null for the deploy), which a rollback returns to. No foreign key on the
# model ids: a model that once served may be deleted since; the rows go with the deployment.
deployment_history = Table(
    "deployment_history",
    metadata,
    Column("uri", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("action", String(16), nullable=False),
    Column("model_id", String(36), nullable=False),
    Column("previous_model_id", String(36)),
    Column("canary_model_id", String(36)),
    Column("canary_percent", Integer),
    Column("switched_at", Timestamp, nullable=False),
    Column("switched_by", String(128), nullable=False),
)

# The change counter (schema version 2): bumped with every revocation, disabled user, undeploy, model
# update or delete; workers poll it to keep their caches within a second (omlsvc/db/changes.py).
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("counter", BigInteger, nullable=False),
)

# -- batch scoring jobs (schema version 2) -------------------------------------------------------------
# A job is a schedule plus the scoring request; a run is one execution (made by our scheduler, the RUN
# action, or the database's scheduler through sql/<dialect>/jobs.sql). While a run is in progress its
# input is split into key ranges, one ``job_chunks`` row per range being scored: the row is the lease
# (who, until when) and deleting it in the transaction that writes the range's output rows is the
# checkpoint. ``model_id`` has no foreign key on purpose: deleting a model leaves its jobs, flagged.

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("job_type", String(32), nullable=False),
    Column("owner", String(128), ForeignKey("users.name"), nullable=False, index=True),
    Column("model_id", String(36), nullable=False, index=True),
    Column("service_level", String(8)),
    Column("properties", Text, nullable=False),
    Column("job_status", String(16), nullable=False),
    Column("enabled", Boolean(create_constraint=False), nullable=False),
    Column("start_at", Timestamp),
    Column("end_at", Timestamp),
    Column("max_runs", Integer),
    Column("repeat_interval", String(4000)),
    Column("next_run_at", Timestamp, index=True),
    Column("run_count", Integer, nullable=False),
    Column("scheduled_runs", Integer, nullable=False),
    Column("submitted_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("job_id", String(40), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("run_type", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("requested_at", Timestamp, nullable=False),
    Column("started_at", Timestamp),
    Column("finished_at", Timestamp),
    Column("claimed_by", String(128)),
    Column("lease_until", Timestamp),
    Column("stop_requested", Boolean(create_constraint=False), nullable=False),
    Column("exhausted", Boolean(create_constraint=False), nullable=False),
    Column("last_key", Text),
    Column("rows_done", BigInteger, nullable=False),
    Column("chunk_seq", Integer, nullable=False),
    Column("error_message", String(4000)),
)

job_chunks = Table(
    "job_chunks",
    metadata,
    Column("run_id", String(36), ForeignKey("job_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("lo_key", Text),
    Column("hi_key", Text, nullable=False),
    Column("claimed_by", String(128), nullable=False),
    Column("lease_until", Timestamp, nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
)


# Tables a user's jobs may read on SQLite, which has no roles (schema version 3): granted by an
# administrator with ``omlsvc tables grant``. PostgreSQL and Oracle decide with their own privileges.
table_grants = Table(
    "table_grants",
    metadata,
    Column("username", String(128), ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
    Column("table_name", String(128), primary_key=True),
    Column("granted_by", String(128), nullable=False),
    Column("granted_at", Timestamp, nullable=False),
)


# -- tasks (schema version 4, issue 15) ----------------------------------------------------------------
# Long operations (URL import, variants, profiles): a row per task, taken by the job runners (the same
# threads and processes, the same leases): ``claimed_by``/``lease_until`` say who works on it until
# when, and a task whose runner's lease ran out is taken over and started again (``attempts``).
# ``params`` and ``result`` are JSON. ``model_id`` is the source model (variants, profiles) or the model
# an import stores; no foreign key: a task outlives a deleted model.
tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("owner", String(128), ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True),
    Column("model_id", String(36), index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("progress", Float, nullable=False),
    Column("message", String(4000)),
    Column("params", Text, nullable=False),
    Column("result", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("started_at", Timestamp),
    Column("finished_at", Timestamp),
    Column("claimed_by", String(128)),
    Column("lease_until", Timestamp, index=True),
    Column("attempts", Integer, nullable=False),
    Column("cancel_requested", Boolean(create_constraint=False), nullable=False),
)
