"""``/omlmod/v1/users`` (our extension, issue 19): user accounts for admins, over HTTP.

The same changes as ``omlsvc users`` on the server, through the same auth service calls; for anyone
but an admin these resources do not exist (404). Answers never carry a password hash.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import falcon

from omlsvc.auth.accounts import Account, UserAdministration
from omlsvc.rest.model_views import iso_timestamp
from omlsvc.rest.web import base_url, read_json_object

USERS = "/omlmod/v1/users"
#: A user's fields are a few hundred bytes; anything larger is not a user.
BODY_LIMIT = 16 * 1024


def user_path(name: str) -> str:
    return f"{USERS}/{quote(name, safe='')}"


def account_view(req: falcon.Request, account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "role": account.role,
        "roles": list(account.roles),
        "enabled": account.enabled,
        "dbRole": account.db_role,
        "createdOn": iso_timestamp(account.created_at),
        "links": [{"rel": "self", "href": base_url(req) + user_path(account.name)}],
    }


class UserCollection:
    def __init__(self, users: UserAdministration) -> None:
        self._users = users

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        accounts = self._users.list(req.context.principal)
        resp.media = {"items": [account_view(req, account) for account in accounts]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        principal = req.context.principal
        account = self._users.add(principal, _body(req, self._users, principal))
        resp.status = falcon.HTTP_201
        resp.location = base_url(req) + user_path(account.name)
        resp.media = account_view(req, account)


class UserAccount:
    def __init__(self, users: UserAdministration) -> None:
        self._users = users

    def on_get(self, req: falcon.Request, resp: falcon.Response, username: str) -> None:
        resp.media = account_view(req, self._users.get(req.context.principal, username))

    def on_post(self, req: falcon.Request, resp: falcon.Response, username: str) -> None:
        principal = req.context.principal
        account = self._users.change(principal, username, _body(req, self._users, principal))
        resp.media = account_view(req, account)


def _body(req: falcon.Request, users: UserAdministration, principal: Any) -> dict[str, Any]:
    """The JSON body, read only once the caller is known to be an admin (anyone else gets the 404
    whatever they sent, malformed bodies included)."""
    users.require_admin(principal)
    return read_json_object(req, BODY_LIMIT)
