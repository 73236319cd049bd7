"""Use cases of the model repository: store, list, read, change, delete (spec section 4), and
share a model with named users (grants, our extension).

The rules come from :mod:`omlsvc.core.authorization`: a user sees their own models, shared ones and
those granted to them by name; another user's private model does not exist for them (404, so
nothing leaks); changing (or granting) what one may see but does not own is 403; the ``admin``
role may do everything. A grant or its removal bumps the change counter like a model update, so
every worker's cached deployments follow within a second.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from omlsvc.config import Settings
from omlsvc.core.authorization import (
    GRANTABLE,
    VIEW,
    ModelUser,
    Principal,
    may_manage_model,
    may_see_model,
    model_users_visible_to,
    require_principal,
)
from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge
from omlsvc.core.limits import MAX_DESCRIPTION
from omlsvc.core.paging import fetch_page
from omlsvc.core.patterns import NAMESPACE, USER_NAME
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.db.transactions import Transactions
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.form import ModelForm
from omlsvc.repository.rows import GrantRecord, ModelFilter, ModelRecord
from omlsvc.repository.store import GrantStore, ModelStore
from omlsvc.repository.validation import ValidatedPackage, validate_package

SPOOL_BLOCK_BYTES = 1024 * 1024
GRANT_FIELDS = frozenset({"user", "permission"})

Validator = Callable[[Path, ModelType, ArchiveLimits, Path], ValidatedPackage]


@dataclass(frozen=True)
class Upload:
    """The ``modelData`` file as received: where it lies, its size and digest."""

    path: Path
    size_bytes: int
    sha256: str


class ModelService:
    def __init__(
        self,
        transactions: Transactions,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        validate: Validator = validate_package,
    ) -> None:
        """Every update, delete and grant is announced on the worker's change feed (deployment caches
        hold the model's record)."""
        self._transactions = transactions
        self._chunk_bytes = settings.chunk_bytes
        self._scratch = settings.data_dir / "tmp"
        self._limits = ArchiveLimits(
            max_archive_bytes=settings.max_upload_bytes,
            max_uncompressed_bytes=settings.max_uncompressed_bytes,
            max_ratio=settings.max_zip_ratio,
            max_entries=settings.max_zip_entries,
            max_labels=settings.max_labels,
            max_image_target_pixels=settings.max_image_target_pixels,
            trial_run_s=settings.validation_cpu_s,
        )
        self._clock = clock
        self._new_id = new_id
        self._validate = validate

    @property
    def scratch_dir(self) -> Path:
        """Where uploads are spooled: inside the data directory, never elsewhere on the host."""
        self._scratch.mkdir(parents=True, exist_ok=True)
        return self._scratch

    @property
    def archive_limits(self) -> ArchiveLimits:
        return self._limits

    def receive_upload(self, stream: BinaryIO, limit: int | None = None) -> Upload:
        """Spool an uploaded file to the scratch directory, hashing it on the way, within the limit.

        The caller owns the returned file and removes it with :meth:`discard_upload`, whatever happens.
        """
        limit = self._limits.max_archive_bytes if limit is None else limit
        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(
            prefix="upload-", suffix=".zip", dir=self.scratch_dir, delete=False
        ) as handle:
            path = Path(handle.name)
            try:
                while block := stream.read(SPOOL_BLOCK_BYTES):
                    size += len(block)
                    if size > limit:
                        raise PayloadTooLarge(f"modelData is over the upload limit of {limit} bytes.")
                    digest.update(block)
                    handle.write(block)
            except BaseException:
                handle.close()
                path.unlink(missing_ok=True)
                raise
        return Upload(path=path, size_bytes=size, sha256=digest.hexdigest())

    @staticmethod
    def discard_upload(upload: Upload | None) -> None:
        if upload is not None:
            upload.path.unlink(missing_ok=True)

    def store_model(
        self,
        principal: Principal,
        form: ModelForm,
        upload: Upload,
        *,
        model_id: str | None = None,
        derived_from: str | None = None,
    ) -> ModelRecord:
        """Validate the package and store row and content in one transaction.

        ``model_id`` (a task that may be run again after its runner died chooses its model's id up
        front) and ``derived_from`` (a variant's source, JSON) are for tasks (issue 15)."""
        principal = require_principal(principal)
        with self._transactions() as uow:
            if ModelStore(uow.connection).exists(principal.name, form.name, form.version):
                raise _duplicate(principal, form)
        workdir = Path(tempfile.mkdtemp(prefix="validate-", dir=self.scratch_dir))
        try:
            package = self._validate(upload.path, form.model_type, self._limits, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        record = ModelRecord(
            id=model_id or self._new_id(),
            name=form.name,
            version=form.version,
            model_type=form.model_type.value,
            namespace=form.namespace,
            description=form.description,
            shared=form.shared,
            owner=principal.name,
            created_at=self._clock(),
            sha256=upload.sha256,
            size_bytes=upload.size_bytes,
            chunk_count=max(1, math.ceil(upload.size_bytes / self._chunk_bytes)),
            function=package.spec.function.value,
            spec_json=package.spec.to_json(),
            metadata_json=json.dumps(package.metadata, sort_keys=True),
            derived_from=derived_from,
        )
        with self._transactions(write=True) as uow, upload.path.open("rb") as content:
            ModelStore(uow.connection).add(record, content, self._chunk_bytes)
            uow.commit()
        return record

    def list_models(
        self, principal: Principal, where: ModelFilter, offset: int = 0, limit: int | None = None
    ) -> tuple[list[ModelRecord], bool]:
        """Visible models in storage order, and whether more follow the page."""
        require_principal(principal)
        with self._transactions() as uow:
            store = ModelStore(uow.connection)
            return fetch_page(lambda n: store.list_visible(principal, where, offset, n), limit)

    def get_model(self, principal: Principal, model_id: str) -> ModelRecord:
        require_principal(principal)
        with self._transactions() as uow:
            return _visible(ModelStore(uow.connection).get(model_id), principal, model_id)

    def update_model(self, principal: Principal, model_id: str, changes: Mapping[str, Any]) -> None:
        """Change ``namespace`` (the OML update) and ``description`` (our extension)."""
        require_principal(principal)
        values: dict[str, object] = {}
        if "namespace" in changes:
            namespace = changes["namespace"]
            if namespace is not None and (
                not isinstance(namespace, str) or not NAMESPACE.fullmatch(namespace)
            ):
                raise InvalidInput("namespace must be up to 50 letters, digits or '_' (or null).")
            values["namespace"] = namespace or None
        if "description" in changes:
            description = changes["description"]
            if description is not None and (
                not isinstance(description, str) or len(description) > MAX_DESCRIPTION
            ):
                raise InvalidInput(
                    f"description must be a string of at most {MAX_DESCRIPTION} characters (or null)."
                )
            values["description"] = description or None
        if not values:
            raise InvalidInput("Nothing to change: send namespace (and/or description).")
        with self._transactions(write=True) as uow:
            store = ModelStore(uow.connection)
            _owned(store.get(model_id), principal, model_id)
            store.update(model_id, **values)
            uow.commit(announce=True)

    def delete_model(self, principal: Principal, model_id: str) -> None:
        require_principal(principal)
        with self._transactions(write=True) as uow:
            store = ModelStore(uow.connection)
            _owned(store.get(model_id), principal, model_id)
            store.delete(model_id)
            uow.commit(announce=True)

    def read_content(self, principal: Principal, model_id: str) -> tuple[ModelRecord, Iterator[bytes]]:
        """The record and an iterator over the stored bytes, one chunk in memory at a time."""
        record = self.get_model(principal, model_id)
        return record, self.iter_content(record)

    def iter_content(self, record: ModelRecord) -> Iterator[bytes]:
        for seq in range(record.chunk_count):
            with self._transactions() as uow:
                data = ModelStore(uow.connection).read_chunk(record.id, seq)
            if data is None:
                return  # deleted while being read: the client sees a short body, never wrong bytes
            yield data

    def spec(self, record: ModelRecord) -> ScoringSpec:
        return ScoringSpec.from_json(record.spec_json)

    def users_of(self, principal: Principal, record: ModelRecord) -> tuple[ModelUser, ...]:
        """The model's ``users`` as the caller may read them (viewers see the owner and themselves)."""
        require_principal(principal)
        return model_users_visible_to(principal, record.access)

    # -- grants ----------------------------------------------------------------------------------

    def grant(self, principal: Principal, model_id: str, body: Mapping[str, Any]) -> tuple[GrantRecord, bool]:
        """Grant ``{"user", "permission"}`` on a model; returns the grant and whether it is new.

        Owner or admin only. An unknown user is NotFound; the owner is refused (they hold OWN); a
        user who already holds the grant keeps it unchanged (granting twice is harmless).
        """
        require_principal(principal)
        with self._transactions(write=True) as uow:
            # who may share comes first: a model the caller may not see is 404 whatever the body says
            record = _owned(ModelStore(uow.connection).get(model_id), principal, model_id, "share it")
            username, permission = parse_grant(body)
            if username == record.owner:
                raise InvalidInput(f"{username} owns model {model_id}; grants are for other users.")
            grants = GrantStore(uow.connection)
            existing = grants.get(model_id, username)
            if existing is not None:
                return existing, False
            if not grants.user_exists(username):
                raise NotFound(f"No user {username}.")
            grant = GrantRecord(model_id, username, permission, principal.name, self._clock())
            if not grants.add(grant):
                existing = grants.get(model_id, username)
                assert existing is not None
                return existing, False
            uow.commit(announce=True)
        return grant, True

    def list_grants(self, principal: Principal, model_id: str) -> list[GrantRecord]:
        """Whom the model is granted to, by name: owner or admin only."""
        require_principal(principal)
        with self._transactions() as uow:
            _owned(ModelStore(uow.connection).get(model_id), principal, model_id, "list its grants")
            return GrantStore(uow.connection).list(model_id)

    def revoke(self, principal: Principal, model_id: str, username: str) -> None:
        """Remove a user's grant; every worker stops honouring it within a second."""
        require_principal(principal)
        with self._transactions(write=True) as uow:
            _owned(ModelStore(uow.connection).get(model_id), principal, model_id, "share it")
            if not USER_NAME.fullmatch(username) or not GrantStore(uow.connection).delete(model_id, username):
                raise NotFound(f"Model {model_id} is not granted to that user.")
            uow.commit(announce=True)

    # -- for other capabilities (no caller: they decide with omlsvc.core.authorization) -------------

    def record(self, model_id: str) -> ModelRecord | None:
        """The stored model ``model_id`` whoever may see it (None: no such model). For the job runner
        and service, which decide with :func:`may_see_model` themselves; never an answer to a request."""
        with self._transactions() as uow:
            return ModelStore(uow.connection).get(model_id)

    def content_of(self, model_id: str) -> Iterator[bytes]:
        """The stored bytes of a model by id, for a worker's disk cache (scoring's ModelSource,
        :mod:`omlsvc.deployment.source`, checked visibility when it found the deployment; a model
        deleted meanwhile yields nothing)."""
        record = self.record(model_id)
        if record is not None:
            yield from self.iter_content(record)


def parse_grant(body: Mapping[str, Any]) -> tuple[str, str]:
    """``{"user": NAME, "permission": "VIEW"}`` (permission defaults to VIEW), every problem at once."""
    problems: list[str] = []
    unknown = sorted(set(body) - GRANT_FIELDS)
    if unknown:
        problems.append(f"Unknown field(s) {', '.join(unknown)[:200]}; send user and permission.")
    username = body.get("user")
    if not isinstance(username, str) or not USER_NAME.fullmatch(username):
        problems.append(
            "user is required: a user name (a letter, then up to 127 letters, digits, '_', '$', '#')."
        )
    permission = body.get("permission", VIEW)
    if permission not in GRANTABLE:
        problems.append(f"permission must be {' or '.join(GRANTABLE)}.")
    if problems:
        raise InvalidInput("The grant is invalid: " + " ".join(problems), details=problems)
    assert isinstance(username, str) and isinstance(permission, str)
    return username, permission


def _duplicate(principal: Principal, form: ModelForm) -> Conflict:
    return Conflict(
        f"Model already exists: {principal.name} already stored {form.name} version {form.version}."
    )


def _visible(record: ModelRecord | None, principal: Principal, model_id: str) -> ModelRecord:
    if record is None or not may_see_model(principal, record.access):
        raise NotFound(f"Model {model_id} does not exist.")
    return record


def _owned(
    record: ModelRecord | None, principal: Principal, model_id: str, action: str = "change or delete it"
) -> ModelRecord:
    record = _visible(record, principal, model_id)
    if not may_manage_model(principal, record.access):
        raise Forbidden(f"Only the creator of model {model_id} ({record.owner}) may {action}.")
    return record
