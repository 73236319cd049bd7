"""The login throttling settings: defaults, values read from the environment, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from omlsvc.config import Settings, SettingsError


def test_login_throttling_defaults_to_five_free_failures_a_fifteen_minute_cap_and_one_check(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path)})
    assert (settings.login_free_attempts, settings.login_max_delay_s, settings.login_concurrency) == (
        5,
        900,
        1,
    )


def test_login_throttling_is_configured_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "OMLSVC_DATA_DIR": str(tmp_path),
            "OMLSVC_LOGIN_FREE_ATTEMPTS": "0",
            "OMLSVC_LOGIN_MAX_DELAY": "60",
            "OMLSVC_LOGIN_CONCURRENCY": "2",
        }
    )
    assert (settings.login_free_attempts, settings.login_max_delay_s, settings.login_concurrency) == (
        0,
        60,
        2,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OMLSVC_LOGIN_FREE_ATTEMPTS", "-1"),
        ("OMLSVC_LOGIN_FREE_ATTEMPTS", "five"),
        ("OMLSVC_LOGIN_MAX_DELAY", "0"),
        ("OMLSVC_LOGIN_CONCURRENCY", "0"),
    ],
)
def test_a_bad_login_setting_is_one_line_that_names_it(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path), name: value})
    assert str(raised.value).startswith(name)
    assert "\n" not in str(raised.value)
