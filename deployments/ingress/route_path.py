"""The path a request has inside its Serve application."""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """``scope["path"]`` without the app's route prefix.

    Serve's proxy keeps the full path and puts the route prefix in ``root_path`` (as ASGI
    says), so an app deployed at ``/tight`` sees ``/tight/v1/embeddings`` in ``path``.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path
