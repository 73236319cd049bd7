"""Hand-written fakes for the service tier: a :class:`~omlsvc.scoring.source.ModelSource` held in
memory, and a unit-of-work factory that records what each use case did with its transactions."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import NotFound, Unavailable
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.db.transactions import Transactions
from omlsvc.db.uow import UnitOfWork
from omlsvc.repository.archive import ArchiveLimits, extract_package
from omlsvc.repository.validation import validate_package
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.service import ScoringService
from omlsvc.scoring.session_options import make_session_options
from omlsvc.scoring.sessions import SessionCache
from omlsvc.scoring.source import ModelToScore, ScoringTarget
from tests import modelzoo

CHUNK = 1024


@dataclass
class FakeModelSource:
    """Deployments and model bytes in dictionaries; a deployment is visible to the names listed."""

    targets: dict[str, tuple[ScoringTarget, frozenset[str]]] = field(default_factory=dict)
    stored: dict[str, bytes] = field(default_factory=dict)
    fetches: list[str] = field(default_factory=list)
    #: the database holding the bytes is away: reading them raises ``Unavailable``.
    database_away: bool = False

    def add(
        self,
        uri: str,
        model_id: str,
        zoo: modelzoo.ZooModel,
        model_type: ModelType = ModelType.ONNX,
        *,
        visible_to: tuple[str, ...] = ("alice",),
        score_timeout_s: float | None = None,
    ) -> ScoringTarget:
        """Store ``zoo``'s package under ``model_id`` and deploy it at ``uri``."""
        data = zoo.zip_path.read_bytes()
        spec = spec_of(zoo.zip_path, model_type)
        model = ModelToScore(id=model_id, sha256=hashlib.sha256(data).hexdigest(), spec_json=spec.to_json())
        target = ScoringTarget(uri=uri, model=model, score_timeout_s=score_timeout_s)
        self.targets[uri] = (target, frozenset(visible_to))
        self.stored[model_id] = data
        return target

    def undeploy(self, uri: str) -> None:
        del self.targets[uri]

    def deployment(self, principal: Principal, uri: str) -> ScoringTarget:
        found = self.targets.get(uri)
        if found is None or principal.name not in found[1]:
            raise NotFound(f"No deployment at {uri!r}.")
        return found[0]

    def serving(self, uri: str) -> ScoringTarget | None:
        found = self.targets.get(uri)
        return None if found is None else found[0]

    def model_bytes(self, model_id: str) -> Iterator[bytes]:
        self.fetches.append(model_id)
        if self.database_away:
            raise Unavailable("The database is not available; try again shortly.")
        data = self.stored.get(model_id, b"")  # a deleted model has no bytes left
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]


def spec_of(zip_path: Path, model_type: ModelType = ModelType.ONNX) -> ScoringSpec:
    return validate_package(zip_path, model_type, ArchiveLimits(), zip_path.parent / "validation").spec


def scoring_service(source: FakeModelSource, data_dir: Path, *, warm_up: bool = False) -> ScoringService:
    """One worker's scoring over ``source``, its disk cache and pins under ``data_dir``."""
    unpack = functools.partial(extract_package, limits=ArchiveLimits())
    files = ModelFiles(data_dir / "cache", data_dir / "tmp", unpack)
    sessions = SessionCache(
        4, None, lambda: make_session_options(1), ["CPUExecutionProvider"], warm_up=warm_up
    )
    return ScoringService(source, files, sessions)


class _RecordingAnnouncer:
    def __init__(self, transactions: Transactions, announced: list[str]) -> None:
        self._changes = transactions.changes
        self._announced = announced

    def record(self, connection: Connection) -> None:
        self._changes.record(connection)

    def changed(self) -> None:
        self._announced.append("changed")
        self._changes.changed()


class RecordingTransactions:
    """A unit-of-work factory over a real database that records each unit opened (``"read"`` or
    ``"write"``) and each change announced, so a test can say what a use case did."""

    def __init__(self, transactions: Transactions) -> None:
        self.engine = transactions.engine
        self.changes = transactions.changes
        self.opened: list[str] = []
        self.announced: list[str] = []
        self._announcer = _RecordingAnnouncer(transactions, self.announced)

    def __call__(self, *, write: bool = False) -> UnitOfWork:
        self.opened.append("write" if write else "read")
        return UnitOfWork(self.engine, write=write, announcer=self._announcer)

    def forget(self) -> None:
        self.opened.clear()
        self.announced.clear()
