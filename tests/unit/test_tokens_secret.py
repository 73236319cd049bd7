"""The generated HS256 secret is created once, private to its owner, and survives restarts."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from omlsvc.auth.tokens import load_or_create_secret


def test_the_secret_is_created_once_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "data" / "jwt_secret"
    first = load_or_create_secret(path)
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == first


def test_workers_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "jwt_secret"
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: load_or_create_secret(path), range(16)))
    assert len(secrets) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["jwt_secret"]
