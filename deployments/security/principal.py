"""Who is calling, and what their scopes let them do. No HTTP here."""

from __future__ import annotations

from dataclasses import dataclass

from deployments.errors import PermissionDeniedError

ADMIN_SCOPE = "admin"
MODEL_SCOPE_PREFIX = "models:"
ALL_MODELS_SCOPE = MODEL_SCOPE_PREFIX + "*"


def model_scope(model: str) -> str:
    return MODEL_SCOPE_PREFIX + model


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``subject`` identifies it for rate limiting and logs (``key:<name>``,
    ``jwt:<iss>#<sub>``, or ``ip:<address>`` when authentication is off); ``scopes`` are
    what it may do: ``models:<id>`` or ``models:*`` to use models, ``admin`` for everything.
    """

    subject: str
    scopes: frozenset[str]

    @classmethod
    def anonymous(cls, address: str) -> Principal:
        """A caller while authentication is off: any model, rate-limited by address."""
        return cls(subject=f"ip:{address}", scopes=frozenset({ALL_MODELS_SCOPE}))

    def may_use_model(self, model: str) -> bool:
        return not self.scopes.isdisjoint({ADMIN_SCOPE, ALL_MODELS_SCOPE, model_scope(model)})

    def require_model(self, model: str) -> None:
        if not self.may_use_model(model):
            raise PermissionDeniedError(
                f"these credentials may not use model {model!r}; "
                f"they need scope {model_scope(model)!r} or {ALL_MODELS_SCOPE!r}",
                required_scope=model_scope(model),
            )
