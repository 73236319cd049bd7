"""Settings come from OMLSVC_* variables once; a bad value stops start-up naming the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omlsvc.config import Settings, SettingsError


def test_no_variables_give_the_embedded_sqlite_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"HOME": str(tmp_path)})
    assert settings.data_dir == tmp_path / ".local" / "share" / "omlsvc"
    assert settings.database_url == f"sqlite:///{settings.data_dir / 'omlsvc.db'}"
    assert settings.bind == "127.0.0.1:8080"
    assert settings.token_lifetime_s == 3600
    assert settings.log_format == "text"


def test_every_variable_is_read_and_typed(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "OMLSVC_DATA_DIR": str(tmp_path),
            "OMLSVC_DATABASE_URL": "postgresql+psycopg://omlsvc:pw@db:5432/omlsvc",
            "OMLSVC_BIND": "0.0.0.0:9000",
            "OMLSVC_WORKERS": "3",
            "OMLSVC_LOG_LEVEL": "debug",
            "OMLSVC_LOG_FORMAT": "JSON",
            "OMLSVC_MAX_UPLOAD_BYTES": "1000",
            "OMLSVC_WARM_UP": "off",
        }
    )
    assert (settings.workers, settings.bind, settings.log_level) == (3, "0.0.0.0:9000", "DEBUG")
    assert settings.max_upload_bytes == 1000
    assert settings.log_format == "json"
    assert settings.warm_up is False
    assert settings.cache_dir == tmp_path / "cache"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OMLSVC_WORKERS", "many"),
        ("OMLSVC_WORKERS", "0"),
        ("OMLSVC_BIND", "8080"),
        ("OMLSVC_LOG_LEVEL", "LOUD"),
        ("OMLSVC_LOG_FORMAT", "xml"),
        ("OMLSVC_DATABASE_URL", "mysql://x@y/z"),
        ("OMLSVC_DATABASE_URL", "not a url"),
        ("OMLSVC_WARM_UP", "maybe"),
        ("OMLSVC_JWT_PRIVATE_KEY_FILE", "/no/such/key.pem"),
        ("OMLSVC_JWT_SECRET", "eight-ch"),
        ("OMLSVC_JWT_SECRET", "x" * 31),
        ("OMLSVC_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example.com"),
        ("OMLSVC_TRUSTED_PROXIES", "10.0.0.0/33"),
    ],
)
def test_an_invalid_value_is_one_line_that_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path), name: value})
    message = str(raised.value)
    assert message.startswith(name)
    assert "\n" not in message


def test_secrets_never_appear_in_reprs_or_errors(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "OMLSVC_DATA_DIR": str(tmp_path),
            "OMLSVC_DATABASE_URL": "postgresql+psycopg://omlsvc:db-password-123@db/omlsvc",
            "OMLSVC_JWT_SECRET": "jwt-secret-456-long-enough-for-hs256-keys",
            "OMLSVC_ADMIN_PASSWORD": "admin-password-789",
        }
    )
    shown = repr(settings) + str(settings)
    for secret in ("db-password-123", "jwt-secret-456", "admin-password-789"):
        assert secret not in shown
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"OMLSVC_JWT_SECRET": "short"})
    assert "short" not in str(raised.value)


def test_key_files_must_come_in_pairs(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("x")
    with pytest.raises(SettingsError, match="together"):
        Settings.from_env({"OMLSVC_JWT_PRIVATE_KEY_FILE": str(key)})


def test_an_hs256_secret_needs_32_bytes_and_the_error_shows_neither_it_nor_more_than_one_line() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"OMLSVC_JWT_SECRET": "an-8-or-more-but-31-byte-secret"})
    message = str(raised.value)
    assert message.startswith("OMLSVC_JWT_SECRET=***: must be at least 32 bytes")
    assert "31-byte" not in message and "\n" not in message
    assert Settings.from_env({"OMLSVC_JWT_SECRET": "y" * 32}).jwt_secret == "y" * 32


def test_trusted_proxies_are_none_unless_listed() -> None:
    assert Settings.from_env({}).trusted_proxies == ()
    settings = Settings.from_env({"OMLSVC_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,::1,"})
    assert [str(network) for network in settings.trusted_proxies] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "::1/128",
    ]


def test_the_bounds_on_work_are_read_and_the_memory_ones_default_to_a_share_of_the_host(
    tmp_path: Path,
) -> None:
    bounded = Settings.from_env(
        {
            "OMLSVC_DATA_DIR": str(tmp_path),
            "OMLSVC_SCORE_TIMEOUT": "2.5",
            "OMLSVC_MAX_WORKER_MEMORY": str(2 * 1024**3),
            "OMLSVC_VALIDATION_CPU_SECONDS": "30",
            "OMLSVC_VALIDATION_MEMORY": str(4 * 1024**3),
            "OMLSVC_MAX_IMAGE_TARGET_PIXELS": "1000000",
            "OMLSVC_MAX_REQUEST_PIXELS": "2000000",
            "OMLSVC_MAX_LABELS": "500",
            "OMLSVC_MAX_RESPONSE_BYTES": "4096",
        }
    )
    assert bounded.score_timeout_s == 2.5
    assert (bounded.worker_memory_ceiling, bounded.scoring_memory_limit) == (2 * 1024**3, 1024**3)
    assert (bounded.validation_cpu_s, bounded.validation_memory) == (30, 4 * 1024**3)
    assert (bounded.max_image_target_pixels, bounded.max_request_pixels) == (1_000_000, 2_000_000)
    assert (bounded.max_labels, bounded.max_response_bytes) == (500, 4096)
    shared = Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path), "OMLSVC_WORKERS": "3"})
    assert 0 < shared.worker_memory_ceiling * 4 <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert shared.scoring_memory_limit == max(shared.worker_memory_ceiling // 2, 256 * 1024**2)


def test_the_import_settings_are_read_and_checked(tmp_path: Path) -> None:
    """Issue 15: the allow list takes CIDRs, addresses and host names (lower-cased); nothing else."""
    settings = Settings.from_env(
        {
            "OMLSVC_DATA_DIR": str(tmp_path),
            "OMLSVC_IMPORT_ALLOW": "10.0.0.0/8, Models.Internal,::1",
            "OMLSVC_IMPORT_CONNECT_TIMEOUT": "3",
            "OMLSVC_IMPORT_READ_TIMEOUT": "5",
            "OMLSVC_IMPORT_TOTAL_TIMEOUT": "60",
        }
    )
    assert settings.import_allow == ("10.0.0.0/8", "models.internal", "::1")
    assert (settings.import_connect_timeout_s, settings.import_read_timeout_s) == (3.0, 5.0)
    assert settings.import_total_timeout_s == 60.0
    with pytest.raises(SettingsError, match="OMLSVC_IMPORT_ALLOW"):
        Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path), "OMLSVC_IMPORT_ALLOW": "http://x/"})


def test_the_image_url_settings_are_read_and_checked(tmp_path: Path) -> None:
    """Issue 16: imageUrl in score records; 0 URLs turns it off, and the image fetcher then is none."""
    from omlsvc.wiring import image_urls

    defaults = Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path)})
    assert (defaults.max_image_urls, defaults.image_url_connect_timeout_s, defaults.image_url_timeout_s) == (
        16,
        5.0,
        15.0,
    )
    assert image_urls(defaults).fetch is not None and image_urls(defaults).max_urls == 16
    off = Settings.from_env(
        {
            "OMLSVC_DATA_DIR": str(tmp_path),
            "OMLSVC_MAX_IMAGE_URLS": "0",
            "OMLSVC_IMAGE_URL_CONNECT_TIMEOUT": "1.5",
            "OMLSVC_IMAGE_URL_TIMEOUT": "4",
        }
    )
    assert (off.max_image_urls, off.image_url_connect_timeout_s, off.image_url_timeout_s) == (0, 1.5, 4.0)
    assert image_urls(off).fetch is None
    for name, value in (("MAX_IMAGE_URLS", "-1"), ("IMAGE_URL_TIMEOUT", "0")):
        with pytest.raises(SettingsError, match=f"OMLSVC_{name}"):
            Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path), f"OMLSVC_{name}": value})


# -- issue 17: PostgreSQL out of the box, and a missing driver said in one line -------------------------


def test_a_postgresql_url_needs_nothing_beyond_the_default_install(tmp_path: Path) -> None:
    for url in ("postgresql+psycopg://omlsvc@db/omlsvc", "postgresql://omlsvc@db/omlsvc"):
        settings = Settings.from_env({"OMLSVC_DATA_DIR": str(tmp_path), "OMLSVC_DATABASE_URL": url})
        assert settings.database_url == url


def test_a_url_whose_driver_is_not_installed_is_one_line_saying_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from omlsvc.cli import main

    environ = {
        "OMLSVC_DATA_DIR": str(tmp_path),
        "OMLSVC_DATABASE_URL": "postgresql+pg8000://omlsvc:hunter22@db/omlsvc",
    }
    assert main(["serve"], environ=environ) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "OMLSVC_DATABASE_URL" in err and "pip install 'pg8000'" in err
    assert "hunter22" not in err and "Traceback" not in err


def test_a_missing_psycopg_names_the_binary_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg is installed here; a ``None`` entry in ``sys.modules`` makes its import fail the way
    a fresh environment without it does."""
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {"OMLSVC_DATA_DIR": str(tmp_path), "OMLSVC_DATABASE_URL": "postgresql://omlsvc@db/omlsvc"}
        )
    assert str(raised.value).endswith(
        "needs the Python driver 'psycopg', which is not installed: pip install 'psycopg[binary]'"
    )


def test_an_unknown_driver_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SQLAlchemy does not know"):
        Settings.from_env(
            {"OMLSVC_DATA_DIR": str(tmp_path), "OMLSVC_DATABASE_URL": "postgresql+nosuch://db/omlsvc"}
        )
