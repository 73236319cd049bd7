"""Use cases of deployments (spec sections 5.1-5.5): deploy, list, describe, undeploy; and ours: swap
the model under a live URI, roll back, run a canary beside it, read its history.

A deployment is visible exactly when its main model is; only the model's owner (or an admin) deploys,
changes and undeploys; a model serves at most one URI (as its main model or its canary); URIs are
unique across the service. Every change of what a URI serves is one transaction that also writes its
``deployment_history`` row and announces itself on the change feed, so every worker's cached
deployment follows within a second (the worker that made it at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from omlsvc.core.authorization import (
    Principal,
    may_manage_model,
    may_see_model,
    may_serve_instead,
    require_principal,
)
from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from omlsvc.core.limits import MAX_SCORE_TIMEOUT_S, MAX_TENSOR_NAME
from omlsvc.core.paging import fetch_page
from omlsvc.core.patterns import DEPLOYMENT_URI
from omlsvc.db.changes import WorkerCache
from omlsvc.db.transactions import Transactions
from omlsvc.db.uow import UnitOfWork
from omlsvc.deployment import records as actions
from omlsvc.deployment.change_request import REMOVE, SET, ChangeRequest, parse_change
from omlsvc.deployment.compatibility import incompatibilities
from omlsvc.deployment.records import DeploymentRecord, HistoryEntry
from omlsvc.deployment.store import DeploymentStore
from omlsvc.repository.rows import ModelFilter, ModelRecord

#: Readies a model in this worker before its deployment is written: (model, the deployment's time
#: limit or None for the default, the value it cuts the model at or None). Raises (InvalidModel) when
#: the model cannot serve, (InvalidInput) when it has no such value to cut at.
Prepare = Callable[[ModelRecord, float | None, str | None], None]

#: The history actions that changed the main model (a rollback undoes the newest of them).
MAIN_CHANGES = (actions.SWAP, actions.ROLLBACK, actions.PROMOTE)


@dataclass(frozen=True)
class _Plan:
    """A change of what a deployment serves, checked: from ``record`` to ``main`` and ``canary``."""

    record: DeploymentRecord
    action: str
    main: ModelRecord
    canary: ModelRecord | None = None
    canary_percent: int | None = None
    #: the models this worker loads before the switch (new to the URI)
    to_prepare: tuple[ModelRecord, ...] = ()

    @property
    def key(self) -> tuple[object, ...]:
        """What must not have changed between the checks and the write."""
        canary = None if self.canary is None else self.canary.id
        old_canary = None if self.record.canary is None else self.record.canary.id
        return (self.record.model.id, old_canary, self.main.id, canary, self.canary_percent)


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
        output_tensor: object = None,
    ) -> DeploymentRecord:
        """Deploy a model at ``uri``, with its own time limit for a model run when ``score_timeout``
        (seconds) is given; cut into a feature extractor at the graph value ``output_tensor`` when
        given (checked against the graph by ``prepare``).

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
        if output_tensor is not None and (
            not isinstance(output_tensor, str) or not 0 < len(output_tensor) <= MAX_TENSOR_NAME
        ):
            problems.append(f"outputTensor must be a tensor name of 1 to {MAX_TENSOR_NAME} characters.")
        if problems:
            raise InvalidInput(" ".join(problems), details=problems)
        assert isinstance(model_id, str) and isinstance(uri, str)
        cut = output_tensor if isinstance(output_tensor, str) else None
        with self._transactions() as uow:
            model = self._deployable(
                principal, DeploymentStore(uow.connection).model(model_id), model_id, uri, uow
            )
        if prepare is not None:
            prepare(model, timeout, cut)
        with self._transactions(write=True) as uow:
            model = self._deployable(
                principal, DeploymentStore(uow.connection).model(model_id), model_id, uri, uow
            )
            created_at = self._clock()
            store = DeploymentStore(uow.connection)
            store.add(uri, model_id, principal.name, created_at, timeout, cut)
            store.record_history(
                uri, HistoryEntry(0, actions.DEPLOY, model_id, None, None, None, created_at, principal.name)
            )
            uow.commit()
        return DeploymentRecord(
            uri=uri, created_at=created_at, model=model, score_timeout_s=timeout, output_tensor=cut
        )

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

    def lookup_serving(self, uri: str) -> DeploymentRecord:
        """As :meth:`lookup_deployment` with no caller: for the worker itself (warming the sessions of
        what a URI serves after a change), never for an answer."""
        return self._by_uri.get(uri, lambda: self._existing(uri))

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

    # -- changing what a live URI serves ------------------------------------------------------------

    def change(
        self,
        principal: Principal,
        uri: str,
        body: Mapping[str, object],
        *,
        prepare: Prepare | None = None,
    ) -> DeploymentRecord:
        """``PUT .../deployment/{uri}``: swap the main model (``modelId``, checked for compatibility
        unless ``force``), set or remove a canary (``canary``), or promote it (``promote``).

        Every model new to the URI is loaded in this worker by ``prepare`` (outside any transaction)
        before anything is written; the switch and its history row are then one transaction, checked
        again against what was prepared (a concurrent change is a Conflict, to be sent again).
        """
        require_principal(principal)
        with self._transactions() as uow:
            store = DeploymentStore(uow.connection)
            self._managed(principal, store.get(uri), uri)  # a URI the caller may not see: 404 first
            request = parse_change(body)
            plan = self._plan(principal, store, uri, request)
        return self._carry_out(principal, plan, lambda s: self._plan(principal, s, uri, request), prepare)

    def rollback(self, principal: Principal, uri: str, *, prepare: Prepare | None = None) -> DeploymentRecord:
        """``POST .../deployment/{uri}/rollback``: serve again the main model the newest swap,
        rollback or promotion replaced (so two rollbacks in a row return to where they started), with
        no canary. No compatibility check: that model served this URI's clients before."""
        require_principal(principal)
        with self._transactions() as uow:
            plan = self._rollback_plan(principal, DeploymentStore(uow.connection), uri)
        return self._carry_out(principal, plan, lambda s: self._rollback_plan(principal, s, uri), prepare)

    def history(
        self, principal: Principal, uri: str, offset: int = 0, limit: int | None = None
    ) -> tuple[list[HistoryEntry], bool]:
        """The deployment's changes, newest first: for those who manage it (they name other models
        and users)."""
        require_principal(principal)
        with self._transactions() as uow:
            store = DeploymentStore(uow.connection)
            self._managed(principal, store.get(uri), uri)
            return fetch_page(lambda n: store.history(uri, offset, n), limit)

    def _carry_out(
        self,
        principal: Principal,
        plan: _Plan,
        replan: Callable[[DeploymentStore], _Plan],
        prepare: Prepare | None,
    ) -> DeploymentRecord:
        if prepare is not None:
            for model in plan.to_prepare:
                prepare(model, plan.record.score_timeout_s, plan.record.output_tensor)
        with self._transactions(write=True) as uow:
            store = DeploymentStore(uow.connection)
            if replan(store).key != plan.key:
                raise Conflict(
                    f"The deployment at {plan.record.uri!r} changed meanwhile; send the change again."
                )
            canary_id = None if plan.canary is None else plan.canary.id
            if not store.switch(
                plan.record.uri, plan.record.model.id, plan.main.id, canary_id, plan.canary_percent
            ):
                raise Conflict(
                    f"The deployment at {plan.record.uri!r} changed meanwhile; send the change again."
                )
            entry = HistoryEntry(
                0,
                plan.action,
                plan.main.id,
                plan.record.model.id,
                canary_id,
                plan.canary_percent,
                self._clock(),
                principal.name,
            )
            store.record_history(plan.record.uri, entry)
            uow.commit(announce=True)
        return self.get_deployment(principal, plan.record.uri)

    def _plan(self, principal: Principal, store: DeploymentStore, uri: str, request: ChangeRequest) -> _Plan:
        record = self._managed(principal, store.get(uri), uri)
        if request.promote:
            if record.canary is None:
                raise Conflict(f"The deployment at {uri!r} has no canary to promote.")
            return _Plan(record, actions.PROMOTE, record.canary, to_prepare=(record.canary,))
        main, action, new = record.model, "", []
        if request.model_id is not None:
            main = self._replacement(principal, store, record, request.model_id)
            if main.id == record.model.id:
                raise Conflict(f"The deployment at {uri!r} already serves model {main.id}.")
            self._require_compatible(record.model, main, request.force)
            action, new = actions.SWAP, [main]
        canary, percent = record.canary, record.canary_percent
        if request.canary == REMOVE:
            canary, percent, action = None, None, action or actions.CANARY_REMOVED
        elif request.canary == SET:
            assert request.canary_model_id is not None
            canary = self._replacement(principal, store, record, request.canary_model_id)
            self._require_compatible(main, canary, request.force)
            percent, action = request.canary_percent, action or actions.CANARY
            new.append(canary)
        if canary is not None and canary.id == main.id:
            raise Conflict(
                "The canary must be another model than the main one (promote: true makes it the main one)."
            )
        return _Plan(record, action, main, canary, percent, tuple(new))

    def _rollback_plan(self, principal: Principal, store: DeploymentStore, uri: str) -> _Plan:
        record = self._managed(principal, store.get(uri), uri)
        last = store.history(uri, actions=MAIN_CHANGES, limit=1)
        if not last or last[0].previous_model_id is None:
            raise Conflict(f"The deployment at {uri!r} has no previous model to return to.")
        target_id = last[0].previous_model_id
        if store.model(target_id) is None:
            raise Conflict(
                f"The previous model of {uri!r}, {target_id}, no longer exists; swap to another model instead."
            )
        target = self._replacement(principal, store, record, target_id)
        return _Plan(record, actions.ROLLBACK, target, to_prepare=(target,))

    @staticmethod
    def _managed(principal: Principal, record: DeploymentRecord | None, uri: str) -> DeploymentRecord:
        if record is None or not may_see_model(principal, record.model.access):
            raise NotFound(f"No deployment at {uri!r}.")
        if not may_manage_model(principal, record.model.access):
            raise Forbidden(
                f"Only the creator of model {record.model.id} ({record.model.owner}) may change its deployment."
            )
        return record

    @staticmethod
    def _replacement(
        principal: Principal, store: DeploymentStore, record: DeploymentRecord, model_id: str
    ) -> ModelRecord:
        """The model, if ``principal`` may put it behind ``record``'s URI and no other URI serves it."""
        model = store.model(model_id)
        if model is None or not may_see_model(principal, model.access):
            raise NotFound(f"Model {model_id} does not exist.")
        if not may_serve_instead(principal, record.model.access, model.access):
            raise Forbidden(f"Only the creator of model {model_id} ({model.owner}) may deploy it.")
        elsewhere = store.uri_of_model(model_id)
        if elsewhere is not None and elsewhere != record.uri:
            raise Conflict(
                f"Model {model_id} is already deployed at {elsewhere!r}; a model has one deployment."
            )
        return model

    @staticmethod
    def _require_compatible(serving: ModelRecord, replacement: ModelRecord, force: bool) -> None:
        problems = incompatibilities(serving, replacement)
        if problems and not force:
            raise InvalidInput(
                f"Model {replacement.id} does not take the inputs the clients of model {serving.id} send "
                '(send "force": true to switch anyway).',
                details=problems,
            )
