"""Bearer-token authentication for ``/omlmod/**``: every request there carries a valid token."""

from __future__ import annotations

import falcon

from omlsvc.auth.service import AuthService
from omlsvc.errors import Unauthorized

PROTECTED_PREFIX = "/omlmod"


def bearer_token(req: falcon.Request) -> str:
    header = req.get_header("Authorization")
    if not header:
        raise Unauthorized("The request needs an 'Authorization: Bearer <token>' header.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token


class AuthMiddleware:
    def __init__(self, auth: AuthService, prefix: str = PROTECTED_PREFIX) -> None:
        self._auth = auth
        self._prefix = prefix

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        path = req.path
        if path == self._prefix or path.startswith(self._prefix + "/"):
            if req.method == "OPTIONS":
                return  # CORS pre-flight requests carry no credentials
            req.context.principal = self._auth.authenticate(bearer_token(req))
