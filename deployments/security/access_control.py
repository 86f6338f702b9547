"""Who may reach which path: authentication, then the caller's rate limit.

Deny by default: every path needs credentials unless it is listed public here, so a route
added later is protected without anyone remembering to protect it. Framework-free: the
ingress's access middleware hands over the header values and turns the errors raised
here into 401/429 before any body byte is read.
"""

from __future__ import annotations

from deployments.config import AppArgs, AuthConfig
from deployments.security.authenticator import Authenticator
from deployments.security.principal import Principal
from deployments.security.rate_limit import RateLimiter
from deployments.security.settings import Settings

# The Open Inference Protocol's probes (ingress/routers/v2.py) are probes too.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Swagger UI's and ReDoc's scripts and styles (ingress.docs_pages): public with the pages.
DOCS_ASSET_PREFIX = "/docs/assets/"
API_KEY_HEADER = "X-API-Key"


def _is_docs_asset(path: str) -> bool:
    # No "..": a path that could climb out of the assets is never waved through.
    return path.startswith(DOCS_ASSET_PREFIX) and ".." not in path


class AccessControl:
    def __init__(
        self, auth: AuthConfig, authenticator: Authenticator | None, limiter: RateLimiter
    ) -> None:
        self.auth = auth
        self.authenticator = authenticator
        self.limiter = limiter

    @classmethod
    def build(cls, args: AppArgs, settings: Settings) -> AccessControl:
        authenticator = Authenticator.from_settings(settings) if args.auth.enabled else None
        return cls(args.auth, authenticator, RateLimiter(args.rate_limits))

    @property
    def requires_credentials(self) -> bool:
        return self.authenticator is not None

    def is_public(self, path: str) -> bool:
        if path in PROBE_PATHS:
            return True
        if path in DOCS_PATHS or _is_docs_asset(path):
            return self.auth.public_docs or not self.requires_credentials
        return False

    def admit(
        self, authorization: str | None, api_key: str | None, client_address: str
    ) -> Principal:
        """The caller, authenticated (401 otherwise) and within its rate limit (429
        otherwise), from its Authorization and X-API-Key header values."""
        if self.authenticator is None:
            principal = Principal.anonymous(client_address)
        else:
            principal = self.authenticator.authenticate(authorization, api_key)
        self.limiter.check(principal)
        return principal
