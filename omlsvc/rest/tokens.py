"""``/omlusers/api/oauth2/v1/token`` and ``.../token/revoke`` (spec section 2), and the same two under
the older tenant form ``/omlusers/tenants/{tenant}/databases/{database}/api/oauth2/v1/...`` that
Oracle's 2021 Postman collection and notebooks use (issue 17): one service serves one database, so
the tenant and database are checked for shape and otherwise ignored."""

from __future__ import annotations

import falcon

from omlsvc.auth.service import AuthService, IssuedToken
from omlsvc.core.errors import InvalidInput
from omlsvc.core.patterns import TENANT, anchored
from omlsvc.rest.middleware import bearer_token, public
from omlsvc.rest.web import client_address, read_form_or_json

TOKEN_BODY_LIMIT = 64 * 1024

#: Oracle's token service sends these; clients and proxies must never cache a token.
NO_STORE_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    "X-Frame-Options": "SAMEORIGIN",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


@public
class Token:
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_form_or_json(req, TOKEN_BODY_LIMIT)
        grant_type = body.get("grant_type")
        if grant_type == "password":
            # the peer's address: forwarded headers are a proxy's business, never a client's word
            issued = self._auth.login(_text(body, "username"), _text(body, "password"), client_address(req))
        elif grant_type == "refresh_token":
            token = body.get("refresh_token")
            issued = self._auth.refresh(token if isinstance(token, str) and token else bearer_token(req))
        else:
            raise InvalidInput("grant_type must be 'password' or 'refresh_token'.")
        resp.set_headers(NO_STORE_HEADERS)
        resp.media = _token_media(issued)


@public
class TokenRevocation:
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._auth.revoke(bearer_token(req))
        resp.set_headers(NO_STORE_HEADERS)
        resp.media = {"status": "ok"}


def _text(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} is required and must be a string.")
    return value


def _token_media(issued: IssuedToken) -> dict[str, object]:
    return {
        "accessToken": issued.access_token,
        "expiresIn": issued.expires_in,
        "tokenType": issued.token_type,
    }


# -- issue 17: the older tenant/database token path ---------------------------------------------------


def _check_tenant(tenant: str, database: str) -> None:
    for name, value in (("tenant", tenant), ("database", database)):
        if not TENANT.fullmatch(value):
            raise InvalidInput(f"The {name} in the token path must match {anchored(TENANT)}.")


@public
class TenantToken(Token):
    """``POST /omlusers/tenants/{tenant}/databases/{database}/api/oauth2/v1/token``: as :class:`Token`."""

    def on_post(  # type: ignore[override]
        self, req: falcon.Request, resp: falcon.Response, tenant: str, database: str
    ) -> None:
        _check_tenant(tenant, database)
        super().on_post(req, resp)


@public
class TenantTokenRevocation(TokenRevocation):
    """``POST /omlusers/tenants/{tenant}/databases/{database}/api/oauth2/v1/token/revoke``."""

    def on_post(  # type: ignore[override]
        self, req: falcon.Request, resp: falcon.Response, tenant: str, database: str
    ) -> None:
        _check_tenant(tenant, database)
        super().on_post(req, resp)
