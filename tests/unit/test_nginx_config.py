"""The nginx site and main file rendered from the package's templates, and the copies in packaging/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from omlsvc.config import Settings
from omlsvc.core.errors import Unavailable
from omlsvc.front.nginx import (
    find_nginx,
    max_body_bytes,
    render_main,
    render_site,
    write_front_files,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = Settings.from_env({"OMLSVC_DATA_DIR": "/var/lib/omlsvc", "OMLSVC_BIND": "0.0.0.0:8080"})
BALANCER = Settings.from_env({"OMLSVC_DATA_DIR": "/var/lib/omlsvc", "OMLSVC_BIND": "0.0.0.0:80"})
EXAMPLE_INSTANCES = ("10.0.0.11:8080", "10.0.0.12:8080")


def test_packaging_holds_the_site_serve_front_nginx_runs() -> None:
    """``omlsvc nginx-config`` with the packaging's data directory and port (regenerate with it)."""
    expected = render_site(PACKAGED, socket=Path("/var/lib/omlsvc/omlsvc.sock"))
    assert (ROOT / "packaging" / "nginx" / "omlsvc.conf").read_text() == expected


def test_packaging_holds_an_example_balancer_for_several_instances() -> None:
    """``omlsvc nginx-config --upstream 10.0.0.11:8080 --upstream 10.0.0.12:8080``."""
    expected = render_site(BALANCER, upstreams=EXAMPLE_INSTANCES)
    assert (ROOT / "packaging" / "nginx" / "omlsvc-upstream.conf").read_text() == expected


def test_the_site_carries_the_settings(tmp_path: Path) -> None:
    settings = Settings.for_tests(
        tmp_path,
        bind="127.0.0.1:9000",
        max_upload_bytes=5000,
        max_request_bytes=7000,
        front_header_timeout_s=7,
        front_body_timeout_s=11,
        front_connections_per_client=13,
        front_requests_per_second=17,
        request_timeout_s=19,
    )
    site = render_site(settings, socket=tmp_path / "s.sock")
    for line in (
        "listen 127.0.0.1:9000;",
        f"server unix:{tmp_path / 's.sock'};",
        "client_header_timeout 7s;",
        "client_body_timeout 11s;",
        f"client_max_body_size {7000 + 1024 * 1024};",
        "limit_conn omlsvc_conn 13;",
        "rate=17r/s;",
        "limit_req zone=omlsvc_req burst=17 nodelay;",
        "proxy_read_timeout 19s;",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_request_buffering on;",
    ):
        assert line in site
    assert "{{" not in site
    assert max_body_bytes(settings) == 7000 + 1024 * 1024


def test_several_instances_are_balanced_with_kept_alive_connections(tmp_path: Path) -> None:
    site = render_site(Settings.for_tests(tmp_path), upstreams=["127.0.0.1:8081", "[::1]:8082"])
    assert "    least_conn;\n    server 127.0.0.1:8081;\n    server [::1]:8082;\n    keepalive 32;" in site


@pytest.mark.parametrize("upstream", ["127.0.0.1", "host:0", "a b:80", "x:80; include /etc/passwd"])
def test_an_odd_upstream_is_refused(tmp_path: Path, upstream: str) -> None:
    with pytest.raises(Unavailable):
        render_site(Settings.for_tests(tmp_path), upstreams=[upstream])


def test_a_path_nginx_would_misread_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="cannot be written into an nginx configuration"):
        render_site(Settings.for_tests(tmp_path), socket=tmp_path / "a;b.sock")


def test_nginx_accepts_the_rendered_files(tmp_path: Path) -> None:
    settings = Settings.for_tests(tmp_path / "data", bind="127.0.0.1:8080")
    files = write_front_files(settings)
    nginx = find_nginx("nginx", os.environ)
    checked = subprocess.run(
        [str(nginx), "-t", "-p", str(files.prefix), "-c", str(files.main_conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    main = files.main_conf.read_text()
    assert "daemon off;" in main
    assert f"pid {files.prefix}/nginx.pid;" in main
    assert f"include {files.prefix}/site.conf;" in main

    balancer = tmp_path / "balancer"
    (balancer / "temp").mkdir(parents=True)
    (balancer / "site.conf").write_text(render_site(BALANCER, upstreams=EXAMPLE_INSTANCES))
    (balancer / "nginx.conf").write_text(render_main(settings, balancer))
    checked = subprocess.run(
        [str(nginx), "-t", "-p", str(balancer), "-c", str(balancer / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def test_nginx_is_found_on_path_or_by_its_path(tmp_path: Path) -> None:
    program = tmp_path / "bin" / "my-nginx"
    program.parent.mkdir()
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert find_nginx("my-nginx", {"PATH": str(program.parent)}) == program
    assert find_nginx(str(program), {"PATH": ""}) == program
    with pytest.raises(Unavailable, match="nginx not found"):
        find_nginx(str(tmp_path / "nowhere" / "nginx"), {"PATH": ""})
    with pytest.raises(Unavailable, match="nginx not found"):
        find_nginx("omlsvc-test-no-such-nginx", {"PATH": str(tmp_path)})


def test_the_login_limit_covers_every_spelling_of_the_token_path(tmp_path: Path) -> None:
    """Issue 17 opened the older tenant path and trailing slashes: none may dodge nginx's login limit."""
    import re

    site = render_site(Settings.for_tests(tmp_path), socket=tmp_path / "omlsvc.sock")
    (pattern,) = re.findall(r"location ~ (\S+) \{\n[^}]*zone=omlsvc_login", site)
    token_paths = [
        "/omlusers/api/oauth2/v1/token",
        "/omlusers/api/oauth2/v1/token/",
        "/omlusers/tenants/ocid1.tenancy.oc1..aaaa/databases/OMLDB/api/oauth2/v1/token",
        "/omlusers/tenants/t/databases/d/api/oauth2/v1/token/",
    ]
    for path in token_paths:
        assert re.search(pattern, path), path
    for path in (
        "/omlusers/api/oauth2/v1/token/revoke",
        "/omlmod/v1/models",
        "/x/omlusers/api/oauth2/v1/token",
    ):
        assert not re.search(pattern, path), path
