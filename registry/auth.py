"""HTTP basic authentication for the bundled registry, as Confluent Schema Registry does it.

Users come from a file in the format of Confluent's (Jetty's) PropertyFileLoginModule, one
`name: password, role[, role ...]` per line, `#` for comments, the password in plain text or
as `MD5:<hex>`. A user with the `admin` role may register, delete and configure; any other
role reads only. With no users file the registry asks for nothing: keep it on loopback then.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

#: The role that may write (register, delete, change a compatibility level).
ADMIN = "admin"
REALM = "SchemaRegistry"
#: Confluent's error code for an authenticated user denied an operation.
DENIED = 40301


@dataclass(frozen=True)
class RegistryUser:
    """One user of the users file: how to check its password, and its roles."""

    password: str
    roles: frozenset[str]

    def accepts(self, password: str) -> bool:
        if self.password.startswith("MD5:"):
            digest = hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()
            return hmac.compare_digest(digest, self.password[4:].lower())
        return hmac.compare_digest(password.encode(), self.password.encode())


class UsersFileError(ValueError):
    """The users file cannot be read as `name: password, role` lines."""


def load_users(path: Path) -> dict[str, RegistryUser]:
    """The users of a PropertyFileLoginModule file; a clear error names a bad line."""
    users: dict[str, RegistryUser] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, rest = line.partition(":")
        parts = [p.strip() for p in rest.split(",")]
        if not colon or not name.strip() or not parts[0]:
            raise UsersFileError(
                f"{path}, line {number}: expected `name: password, role`, the format of "
                "Confluent's PropertyFileLoginModule"
            )
        users[name.strip()] = RegistryUser(parts[0], frozenset(p for p in parts[1:] if p))
    return users


def _credentials(scope: Scope) -> tuple[str, str] | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            name, colon, password = decoded.partition(":")
            return (name, password) if colon else None
    return None


class BasicAuth:
    """Refuses a request without a known user's password (401); hands the user's roles on
    in the request's state, where a write checks for `admin` (`may_write`)."""

    def __init__(self, app: ASGIApp, users: Mapping[str, RegistryUser] | None) -> None:
        self.app = app
        self.users = users

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.users is None:
            await self.app(scope, receive, send)
            return
        given = _credentials(scope)
        user = self.users.get(given[0]) if given else None
        if given is None or user is None or not user.accepts(given[1]):
            await _refuse(send)
            return
        scope.setdefault("state", {})["roles"] = user.roles
        await self.app(scope, receive, send)


def may_write(state: Mapping[str, object]) -> bool:
    """True when no authentication is configured, or the user has the admin role."""
    roles = state.get("roles")
    return roles is None or (isinstance(roles, frozenset) and ADMIN in roles)


async def _refuse(send: Send) -> None:
    body = json.dumps({"error_code": 401, "message": "Unauthorized"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/vnd.schemaregistry.v1+json"),
                (b"www-authenticate", f'Basic realm="{REALM}"'.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
