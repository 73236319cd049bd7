"""The web console (``/console``): a page and its static files, served by the service itself.

Everything the console loads comes from this module: its own HTML, CSS and JavaScript modules
(``console_assets/``, package data) and Swagger UI's bundle, taken from the ``swagger-ui-bundle``
package at start-up. Nothing is fetched from another origin, and the Content-Security-Policy sent with
every file says so to the browser (``default-src 'self'``, no inline script or style, no frames).

The files are public: they hold no data. The console signs in with the OML token endpoint, keeps
the access token in memory only and sends it as ``Authorization: Bearer`` on every API call, the
same calls and the same authorization as curl. No cookie is ever set or read (see
:mod:`omlsvc.rest.middleware`), so a request another site makes the browser send carries no
credential and cross-site request forgery has nothing to ride on.

Files are read once per worker into memory (with a gzip copy) from a fixed list; a name that is not
in the list is a 404, so no path ever reaches the file system from a request.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import falcon

from omlsvc.core.errors import NotFound
from omlsvc.rest.middleware import public

CONSOLE = "/console"
ASSETS = f"{CONSOLE}/assets"
ASSET_DIR = Path(__file__).with_name("console_assets")
#: The two files of Swagger UI the deployment page uses (its JavaScript bundle and its styles).
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

#: Only this origin, for everything; images may also be ``data:`` (Swagger UI's icons) and ``blob:``
#: (the scorer's preview of a picked image, which never leaves the page before it is sent).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Browsers keep the files but ask each time whether they changed (a 304 when not): a new release
#: is seen on the next load without versioned file names.
REVALIDATE = "no-cache"


@dataclass(frozen=True)
class Asset:
    """One file as it is sent: its bytes, a gzip copy, its type and its entity tag."""

    body: bytes
    gzipped: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, path: Path) -> Asset:
        body = path.read_bytes()
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            content_type=CONTENT_TYPES[path.suffix],
            etag=hashlib.sha256(body).hexdigest()[:32],
        )


def swagger_ui_dir() -> Path:
    """Where the installed ``swagger-ui-bundle`` package keeps Swagger UI's distribution."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def load_assets(asset_dir: Path = ASSET_DIR, swagger_dir: Path | None = None) -> dict[str, Asset]:
    """Every file the console may send, by the name it is asked for under ``/console/assets/``."""
    assets = {
        path.name: Asset.of(path)
        for path in sorted(asset_dir.iterdir())
        if path.is_file() and path.suffix in CONTENT_TYPES and path.name != "index.html"
    }
    swagger_dir = swagger_dir or swagger_ui_dir()
    for name in SWAGGER_UI_FILES:
        assets[name] = Asset.of(swagger_dir / name)
    return assets


def send(req: falcon.Request, resp: falcon.Response, asset: Asset) -> None:
    """The file with the console's headers, a 304 when the browser's copy is current, gzip when
    the browser takes it."""
    resp.set_headers(SECURITY_HEADERS)
    resp.cache_control = [REVALIDATE]
    resp.etag = asset.etag
    resp.vary = ["Accept-Encoding"]
    if req.if_none_match and any(tag == asset.etag for tag in req.if_none_match):
        resp.status = falcon.HTTP_304
        return
    resp.content_type = asset.content_type
    if "gzip" in (req.get_header("Accept-Encoding") or "").lower():
        resp.set_header("Content-Encoding", "gzip")
        resp.data = asset.gzipped
    else:
        resp.data = asset.body


@public
class ConsolePage:
    """``GET /console``: the single page; the rest of its state lives in the URL's fragment."""

    def __init__(self, page: Asset | None = None) -> None:
        self._page = page or Asset.of(ASSET_DIR / "index.html")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send(req, resp, self._page)


@public
class ConsoleAsset:
    """``GET /console/assets/{name}``: one of a fixed set of files, by name."""

    def __init__(self, assets: dict[str, Asset] | None = None) -> None:
        self._assets = assets if assets is not None else load_assets()

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        asset = self._assets.get(name)
        if asset is None:
            raise NotFound(f"The console has no file {name!r}.")
        send(req, resp, asset)


@public
class Root:
    """``GET /``: a browser opening the service's address lands on the console."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_302
        resp.location = CONSOLE
        resp.media = {"location": CONSOLE}
