"""``omlsvc login`` / ``logout`` and the connection every remote command makes through the client.

Which service and token a remote command uses, first match wins:

1. ``OMLSVC_URL`` and ``OMLSVC_TOKEN`` (CI, scripts);
2. the login ``omlsvc login URL`` stored in ``$XDG_CONFIG_HOME/omlsvc/credentials.json`` (by default
   ``~/.config/omlsvc/``; the folder 0700, the file 0600), for ``OMLSVC_URL`` when it is set.

The password is never stored: the file holds the token, which the service lets the client refresh for
8 hours after the login (refreshed tokens are written back). Remote commands open no database: they
act on the service with the signed-in user's rights, nothing else.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omlsvc.cli.context import SubParsers

if TYPE_CHECKING:
    from omlsvc.client import Client

#: A remote command: its arguments and the environment (never the server's settings).
RemoteHandler = Callable[[argparse.Namespace, Mapping[str, str]], int]


class NotSignedIn(Exception):
    """No service to talk to: neither ``OMLSVC_URL``/``OMLSVC_TOKEN`` nor a stored login."""


def remote(parser: argparse.ArgumentParser, handler: RemoteHandler) -> None:
    """Make ``handler`` the parser's command, run without the server's settings."""
    parser.set_defaults(handler=handler, remote=True)


def credentials_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "omlsvc" / "credentials.json"


def read_login(environ: Mapping[str, str]) -> dict[str, str] | None:
    path = credentials_path(environ)
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise NotSignedIn(f"{path} cannot be read; run `omlsvc login URL` again.") from None
    if not isinstance(stored, dict) or not isinstance(stored.get("url"), str) or not stored.get("token"):
        raise NotSignedIn(f"{path} holds no login; run `omlsvc login URL` again.")
    return {str(k): str(v) for k, v in stored.items()}


def write_login(environ: Mapping[str, str], login: Mapping[str, str]) -> Path:
    """Write the login readable by its owner only (the folder 0700, the file created 0600)."""
    path = credentials_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(dict(login), handle)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


@contextmanager
def connect(environ: Mapping[str, str]) -> Iterator[Client]:
    """A client for the service and token the environment or the stored login name."""
    from omlsvc.client import Client

    url = environ.get("OMLSVC_URL")
    token = environ.get("OMLSVC_TOKEN")
    stored = None
    if not (url and token):
        stored = read_login(environ)
        if stored is None or (url and stored["url"].rstrip("/") != url.rstrip("/")):
            where = f" to {url}" if url else ""
            raise NotSignedIn(
                f"Not signed in{where}: run `omlsvc login URL` or set OMLSVC_URL and OMLSVC_TOKEN. "
                "(Server-local administration on this machine's database: `omlsvc local ...`.)"
            )
        url, token = stored["url"], stored["token"]
    assert url and token
    timeout = float(environ.get("OMLSVC_CLIENT_TIMEOUT", "300"))
    # Refresh once half the token's life is gone: an expired token can no longer be refreshed, and
    # the next command may come much later.
    client = Client(url, token=token, timeout_s=timeout, refresh_share=0.5, max_refresh_margin_s=float("inf"))
    try:
        yield client
    finally:
        if stored is not None and client.token and client.token != stored["token"]:
            write_login(environ, {**stored, "token": client.token})
        client.close()


def add_login_commands(commands: SubParsers) -> None:
    login = commands.add_parser(
        "login",
        help="remote: sign in to a service and keep its token for the remote commands",
        description="Sign in to an omlsvc service: asks for the user name and password (or reads the "
        "password from stdin) and stores the token, never the password, in "
        "$XDG_CONFIG_HOME/omlsvc/credentials.json (0600).",
    )
    login.add_argument("url", help="the service, e.g. https://ml.example.com")
    login.add_argument("--username", "-u", help="the user name (asked for when not given)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    remote(login, _login)
    logout = commands.add_parser("logout", help="remote: revoke the stored login and forget it")
    remote(logout, _logout)


def _login(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from omlsvc.client import Client

    username = args.username or input("User name: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {username} at {args.url}: ")
    with Client(args.url, username=username, password=password, revoke_on_close=False) as client:
        assert client.token is not None
        path = write_login(environ, {"url": client.url, "username": username, "token": client.token})
    print(f"signed in to {client.url} as {username} (token kept in {path})")
    return 0


def _logout(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    stored = read_login(environ)
    if stored is None:
        print("not signed in")
        return 0
    from omlsvc.client import Client, ClientError

    try:
        with Client(stored["url"], token=stored["token"], revoke_on_close=True):
            pass
    except ClientError as error:  # an expired or revoked token ends the login just as well
        print(f"omlsvc: the service did not revoke the token ({error}); forgetting it", file=sys.stderr)
    credentials_path(environ).unlink()
    print(f"signed out of {stored['url']}")
    return 0


def output_json(value: Any) -> None:
    print(json.dumps(value, indent=2))
