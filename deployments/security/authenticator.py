"""Credentials -> Principal: API keys and OAuth2 bearer JWTs. No HTTP framework here."""

from __future__ import annotations

import logging

from deployments.errors import AuthenticationError, MissingCredentialsError
from deployments.security.api_keys import ApiKeyStore
from deployments.security.jwt_tokens import JwtVerifier
from deployments.security.principal import Principal
from deployments.security.settings import ENV_PREFIX, Settings

logger = logging.getLogger("ray.serve")


def is_jwt(credential: str) -> bool:
    # header.payload.signature; our API keys are base64url and never contain a dot.
    return credential.count(".") == 2


class Authenticator:
    def __init__(self, keys: ApiKeyStore | None, tokens: JwtVerifier | None) -> None:
        if keys is None and tokens is None:
            raise ValueError(
                "authentication is on but no credentials are configured: set "
                f"{ENV_PREFIX}API_KEYS_FILE and/or {ENV_PREFIX}JWT_* in the environment of "
                "`ray start`, or set auth.enabled: false in the application's args"
            )
        self.keys = keys
        self.tokens = tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        keys = ApiKeyStore(settings.api_keys_file) if settings.api_keys_file else None
        if keys is not None and not keys.path.exists():
            logger.warning("API keys file %s does not exist (yet): no key is valid", keys.path)
        tokens = JwtVerifier(settings) if settings.jwt_enabled else None
        return cls(keys, tokens)

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        """From the Authorization header (preferred, as Swagger UI may send both) or X-API-Key."""
        if authorization is not None:
            scheme, _, credential = authorization.strip().partition(" ")
            credential = credential.strip()
            if scheme.lower() != "bearer" or not credential:
                raise AuthenticationError(
                    "the Authorization header must be 'Bearer <API key or access token>'"
                )
            if is_jwt(credential):
                if self.tokens is None:
                    raise AuthenticationError("this server does not accept JWT access tokens")
                return self.tokens.verify(credential)
        elif api_key is not None:
            credential = api_key.strip()
        else:
            raise MissingCredentialsError(
                "authentication required: send 'Authorization: Bearer <API key or access "
                "token>' or 'X-API-Key: <API key>'"
            )
        key = self.keys.find(credential) if self.keys is not None else None
        if key is None:
            raise AuthenticationError("the API key is not valid")
        return key.principal()
