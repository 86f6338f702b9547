"""Real credentials for tests: API keys in a keys file, and a JWT issuer with its own keys.

Nothing here is mocked: keys are issued through deployments.security.api_keys, and tokens are signed
with freshly generated RSA / EC keys and a random HMAC secret, as an identity provider would.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from deployments.security import api_keys

AUDIENCE = "inference-api"
ISSUER = "https://idp.test.invalid/"


def issue_keys(path: Path, scopes_by_name: dict[str, list[str]]) -> dict[str, str]:
    """Issue one key per name into the keys file; the clear keys come back, by name."""
    return {name: api_keys.add_key(path, name, scopes) for name, scopes in scopes_by_name.items()}


def _jwk(public_jwk: str, kid: str, alg: str) -> Any:
    return json.loads(public_jwk) | {"kid": kid, "alg": alg, "use": "sig"}


@dataclass
class JwtIssuer:
    """An identity provider: signs tokens with HS256, RS256 (kid rsa-1) and ES256 (kid ec-1)."""

    # Text, as identity providers hand out client secrets, and written with a final
    # newline as `echo` would; binary secrets have their own unit test.
    secret: bytes = field(default_factory=lambda: secrets.token_urlsafe(48).encode())
    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    ec_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key())
        ec_jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key())
        return {"keys": [_jwk(rsa_jwk, "rsa-1", "RS256"), _jwk(ec_jwk, "ec-1", "ES256")]}

    def public_pem(self, alg: str = "ES256") -> bytes:
        key = self.ec_key if alg == "ES256" else self.rsa_key
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def write(self, directory: Path) -> dict[str, str]:
        """Write the secret and the JWKS; return the RSIC_* settings that point at them."""
        secret_file = directory / "jwt_secret"
        secret_file.write_bytes(self.secret + b"\n")
        secret_file.chmod(0o600)
        jwks_file = directory / "jwks.json"
        jwks_file.write_text(json.dumps(self.jwks()))
        return {
            "RSIC_JWT_SECRET_FILE": str(secret_file),
            "RSIC_JWT_JWKS_FILE": str(jwks_file),
            "RSIC_JWT_AUDIENCE": AUDIENCE,
            "RSIC_JWT_ISSUER": ISSUER,
        }

    def token(self, alg: str = "ES256", *, expires_in: float = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "client-1",
            "iat": now,
            "exp": now + int(expires_in),
            "scope": "models:*",
        } | claims
        payload = {k: v for k, v in payload.items() if v is not None}
        if alg == "HS256":
            return jwt.encode(payload, self.secret, algorithm="HS256")
        key, kid = (self.rsa_key, "rsa-1") if alg == "RS256" else (self.ec_key, "ec-1")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})
