"""Deny by default: every route needs a valid bearer token unless its resource is marked public.

The decision is made once per request, after routing (``process_resource``), from the resource
Falcon chose, never from the raw path: Falcon's router strips leading slashes and decodes ``%2F``,
so ``//omlmod/v1/...`` reaches the same resource as ``/omlmod/v1/...`` and a prefix check on the
path is no boundary. A resource answers without a token only when its class is decorated with
:func:`public`, and that list is kept short (health probes and the token endpoints).

Behind authentication, ``req.context.principal`` is read through :class:`CallerContext`, which fails
closed: reading it when nobody was authenticated raises :class:`Unauthorized` (a 401), so a resource
marked public by mistake cannot reach a service with a missing principal (a 500 that would also say
whether an id exists).

Credentials come from the ``Authorization`` header only; no cookie is ever read or set. The web
console (:mod:`omlsvc.rest.console`) keeps its token in memory and sends the same header, so a
request that another site makes a browser send carries no credential: there is no ambient
authority for cross-site request forgery to use, on any method.
"""

from __future__ import annotations

from typing import Any, TypeVar

import falcon

from omlsvc.auth.service import AuthService
from omlsvc.core.authorization import Principal
from omlsvc.core.errors import Unauthorized
from omlsvc.core.logs import USER_ENV, bind

#: The class attribute :func:`public` sets; nothing else may set it.
PUBLIC_MARK = "omlsvc_public"

R = TypeVar("R", bound=type)


def public(resource_class: R) -> R:
    """Mark a resource class as answering without a token (health probes, the token endpoints)."""
    setattr(resource_class, PUBLIC_MARK, True)
    return resource_class


def is_public(resource: object) -> bool:
    return getattr(type(resource), PUBLIC_MARK, False) is True


#: The class attribute :func:`checks_its_own_token` sets.
OWN_CHECK_MARK = "omlsvc_checks_its_own_bearer"


def checks_its_own_token(resource_class: R) -> R:
    """Mark a resource class that is not public but accepts a bearer token other than an OML access
    token (``GET /metrics``: the scraper's ``OMLSVC_METRICS_TOKEN`` too). The middleware still
    requires a bearer token on every method and hands it to the resource's ``admit(token)``, which
    raises :class:`Unauthorized` for a token it refuses; what it returns is ``req.context.admitted``."""
    setattr(resource_class, OWN_CHECK_MARK, True)
    return resource_class


def checks_own_token(resource: object) -> bool:
    return getattr(type(resource), OWN_CHECK_MARK, False) is True


def bearer_token(req: falcon.Request) -> str:
    header = req.get_header("Authorization")
    if not header:
        raise Unauthorized("The request needs an 'Authorization: Bearer <token>' header.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token


class CallerContext(falcon.Context):
    """``req.context`` of every request: ``principal`` can be read only once someone was authenticated."""

    _principal: Principal | None = None

    @property
    def principal(self) -> Principal:
        principal = self._principal
        if principal is None:
            raise Unauthorized("The request needs an 'Authorization: Bearer <token>' header.")
        return principal

    @principal.setter
    def principal(self, value: Principal | None) -> None:
        self._principal = value

    @property
    def authenticated(self) -> bool:
        return self._principal is not None


class Request(falcon.Request):
    """Falcon's request with a :class:`CallerContext`."""

    context_type = CallerContext


class AuthMiddleware:
    def __init__(self, auth: AuthService) -> None:
        self._auth = auth

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        """Runs after routing, before the responder reads a byte of the body."""
        if resource is None or is_public(resource):
            return
        if checks_own_token(resource):
            req.context.admitted = resource.admit(bearer_token(req))  # type: ignore[attr-defined]
            return
        principal = self._auth.authenticate(bearer_token(req))
        req.context.principal = principal
        req.env[USER_ENV] = principal.name
        bind(user=principal.name)  # undone with the request's binding (RequestContext)
