"""Settings read from the environment of the ingress replica: where the credentials live.

Credentials never go in serve_config.yaml: `serve status`, the dashboard and the GCS show
the application's args to anyone who can reach them. Ray workers inherit the environment
of `ray start`, so cluster/local/env.sh exports these before start.sh starts the head; on
Kubernetes they are set on the pod, pointing at files mounted from a Secret.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "RSIC_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    api_keys_file: Path | None = Field(
        None,
        description="JSON file of API keys (name, SHA-256 of the key, scopes); never the keys "
        "themselves. Re-read whenever it changes, so keys rotate without a restart.",
    )
    jwt_secret_file: Path | None = Field(
        None,
        description="File holding the HS256 shared secret (at least 32 bytes), byte for "
        "byte; only one final line ending is dropped.",
    )
    jwt_public_key_file: Path | None = Field(
        None, description="PEM public key that verifies RS256 (RSA) or ES256 (P-256) tokens."
    )
    jwt_jwks_file: Path | None = Field(
        None,
        description="JWKS file of RS256/ES256 public keys, picked by the token's `kid`; "
        "re-read whenever it changes.",
    )
    jwt_audience: str | None = Field(
        None, description="The `aud` every token must carry (required with any JWT key)."
    )
    jwt_issuer: str | None = Field(
        None, description="The `iss` every token must carry (required with any JWT key)."
    )
    jwt_leeway_s: float = Field(
        30.0, ge=0, le=300, description="Clock skew tolerated when checking `exp` and `nbf`."
    )

    @property
    def jwt_enabled(self) -> bool:
        return any((self.jwt_secret_file, self.jwt_public_key_file, self.jwt_jwks_file))

    @model_validator(mode="after")
    def _jwt_is_bound_to_audience_and_issuer(self) -> Settings:
        # A token minted for another service (other aud) or by another IdP (other iss)
        # must never be accepted here, so neither check can be left out.
        if self.jwt_enabled and not (self.jwt_audience and self.jwt_issuer):
            raise ValueError(
                f"{ENV_PREFIX}JWT_AUDIENCE and {ENV_PREFIX}JWT_ISSUER are required "
                "when a JWT key is configured"
            )
        return self
