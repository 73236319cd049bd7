"""Use cases of deployments (spec sections 5.1-5.5): deploy, list, describe, undeploy.

A deployment is visible exactly when its model is; only the model's owner (or an admin) deploys
and undeploys; one deployment per model; URIs are unique across the service.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from omlsvc.core.authorization import Principal, may_manage_model, may_see_model, require_principal
from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from omlsvc.core.limits import MAX_SCORE_TIMEOUT_S
from omlsvc.core.paging import fetch_page
from omlsvc.core.patterns import DEPLOYMENT_URI
from omlsvc.db.changes import WorkerCache
from omlsvc.db.transactions import Transactions
from omlsvc.db.uow import UnitOfWork
from omlsvc.deployment.records import DeploymentRecord
from omlsvc.deployment.store import DeploymentStore
from omlsvc.repository.rows import ModelFilter, ModelRecord

#: Readies a model in this worker before its deployment is written: (model, the deployment's time
#: limit or None for the default). Raises (InvalidModel) when the model cannot serve.
Prepare = Callable[[ModelRecord, float | None], None]


class DeploymentService:
    def __init__(
        self,
        transactions: Transactions,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """The worker's change feed comes with ``transactions``; it keeps the deployment cache honest."""
        self._transactions = transactions
        self._clock = clock
        #: uri -> deployment, for scoring: filled per worker, emptied by any change anywhere.
        self._by_uri: WorkerCache[str, DeploymentRecord] = WorkerCache(transactions.changes)

    def deploy(
        self,
        principal: Principal,
        model_id: object,
        uri: object,
        score_timeout: object = None,
        *,
        prepare: Prepare | None = None,
    ) -> DeploymentRecord:
        """Deploy a model at ``uri``, with its own time limit for a model run when ``score_timeout``
        (seconds) is given.

        ``prepare`` runs after every check and before anything is written, outside any transaction:
        a model it refuses (a warm-up that fails or times out) leaves no deployment behind.
        """
        require_principal(principal)
        problems = []
        if not isinstance(model_id, str) or not model_id:
            problems.append("modelId is required and must be a string.")
        if not isinstance(uri, str) or not DEPLOYMENT_URI.fullmatch(uri):
            problems.append("uri is required: 1 to 200 letters, digits or '_'.")
        timeout = self._score_timeout(score_timeout, problems)
        if problems:
            raise InvalidInput(" ".join(problems), details=problems)
        assert isinstance(model_id, str) and isinstance(uri, str)
        with self._transactions() as uow:
            model = self._deployable(
                principal, DeploymentStore(uow.connection).model(model_id), model_id, uri, uow
            )
        if prepare is not None:
            prepare(model, timeout)
        with self._transactions(write=True) as uow:
            model = self._deployable(
                principal, DeploymentStore(uow.connection).model(model_id), model_id, uri, uow
            )
            created_at = self._clock()
            DeploymentStore(uow.connection).add(uri, model_id, principal.name, created_at, timeout)
            uow.commit()
        return DeploymentRecord(uri=uri, created_at=created_at, model=model, score_timeout_s=timeout)

    def _deployable(
        self, principal: Principal, model: ModelRecord | None, model_id: str, uri: str, uow: UnitOfWork
    ) -> ModelRecord:
        """The model, if ``principal`` may deploy it at ``uri`` now."""
        if model is None or not may_see_model(principal, model.access):
            raise NotFound(f"Model {model_id} does not exist.")
        if not may_manage_model(principal, model.access):
            raise Forbidden(f"Only the creator of model {model_id} ({model.owner}) may deploy it.")
        store = DeploymentStore(uow.connection)
        existing = store.uri_of_model(model_id)
        if existing is not None:
            raise Conflict(
                f"Model {model_id} is already deployed at {existing!r}; a model has one deployment."
            )
        if store.uri_taken(uri):
            raise Conflict(f"The URI {uri!r} is already in use.")
        return model

    @staticmethod
    def _score_timeout(value: object, problems: list[str]) -> float | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value <= MAX_SCORE_TIMEOUT_S
        ):
            problems.append(
                f"scoreTimeout must be a number of seconds above 0 and at most {MAX_SCORE_TIMEOUT_S}."
            )
            return None
        return float(value)

    def list_deployments(
        self, principal: Principal, where: ModelFilter, offset: int = 0, limit: int | None = None
    ) -> tuple[list[DeploymentRecord], bool]:
        require_principal(principal)
        with self._transactions() as uow:
            store = DeploymentStore(uow.connection)
            return fetch_page(lambda n: store.list_visible(principal, where, offset, n), limit)

    def visible_uris(self, principal: Principal) -> frozenset[str]:
        """The URIs of every deployment ``principal`` may see (what a metrics scrape may name)."""
        records, _ = self.list_deployments(principal, ModelFilter())
        return frozenset(record.uri for record in records)

    def get_deployment(self, principal: Principal, uri: str) -> DeploymentRecord:
        """The deployment at ``uri`` if the caller may see it: one indexed lookup, run per score."""
        require_principal(principal)
        with self._transactions() as uow:
            record = DeploymentStore(uow.connection).get(uri)
        if record is None or not may_see_model(principal, record.model.access):
            raise NotFound(f"No deployment at {uri!r}.")
        return record

    def lookup_deployment(self, principal: Principal, uri: str) -> DeploymentRecord:
        """As :meth:`get_deployment`, for the score path: from this worker's cache, which an undeploy
        or a model change empties at once in this worker and within a second in every other one."""
        require_principal(principal)
        record = self._by_uri.get(uri, lambda: self._existing(uri))
        if not may_see_model(principal, record.model.access):
            raise NotFound(f"No deployment at {uri!r}.")
        return record

    def _existing(self, uri: str) -> DeploymentRecord:
        with self._transactions() as uow:
            record = DeploymentStore(uow.connection).get(uri)
        if record is None:
            raise NotFound(f"No deployment at {uri!r}.")
        return record

    def undeploy(self, principal: Principal, uri: str) -> None:
        require_principal(principal)
        with self._transactions(write=True) as uow:
            store = DeploymentStore(uow.connection)
            record = store.get(uri)
            if record is None or not may_see_model(principal, record.model.access):
                raise NotFound(f"No deployment at {uri!r}.")
            if not may_manage_model(principal, record.model.access):
                raise Forbidden(
                    f"Only the creator of model {record.model.id} ({record.model.owner}) may undeploy it."
                )
            store.delete(uri)
            uow.commit(announce=True)
