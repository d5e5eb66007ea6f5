"""Bearer API keys and roles. Every ``/api/v1`` call needs a key (401 without one)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from mdm.db import UnitOfWork
from mdm.errors import Forbidden
from mdm.services.apikeys import Principal, authenticate

F = TypeVar("F", bound=Callable[..., Any])


def load_principal() -> None:
    """``before_request`` hook of the API blueprint."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    clear = token.strip() if scheme.lower() == "bearer" else None
    with UnitOfWork(current_app.config["MDM_SETTINGS"]) as uow:
        g.principal = authenticate(uow, clear)


def principal() -> Principal:
    return g.principal


def require(*roles: str) -> Callable[[F], F]:
    """Allow only these roles (``admin`` is always allowed)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            who = principal()
            if who.role != "admin" and who.role not in roles:
                raise Forbidden(f"role {who.role!r} may not do this", details={"allowed": ["admin", *roles]})
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def check_source(source: str) -> None:
    """A ``source`` key writes only for the one source system it is bound to."""
    who = principal()
    if who.role == "source" and who.source != source:
        raise Forbidden(
            f"this key is bound to source {who.source!r}, not {source!r}",
            details={"key_source": who.source, "source": source},
        )
