"""OAuth2 bearer tokens (JWTs) from an identity provider, verified with PyJWT.

The key that verifies a token is chosen by what this server is configured with, never by
the token alone: HS256 only with the shared secret, RS256/ES256 only with a public key of
the matching type. That closes the classic algorithm-confusion holes (``alg: none``, or an
RSA public key used as an HMAC secret).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from deployments.errors import AuthenticationError
from deployments.security.principal import Principal
from deployments.security.settings import Settings
from deployments.security.watched_file import WatchedFile

HMAC_ALGORITHM = "HS256"
PUBLIC_KEY_ALGORITHMS = frozenset({"RS256", "ES256"})
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32


def _secret(raw: bytes) -> bytes:
    """The file's bytes as they are, less one final line ending (`echo`, editors).

    Any other byte is key material: a random binary secret starts or ends with a
    whitespace byte about once in twenty, and stripping it (as this once did) made every
    HS256 token fail to verify.
    """
    secret = raw[:-2] if raw.endswith(b"\r\n") else raw.removesuffix(b"\n")
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the HS256 secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def algorithm_of(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("only RSA and P-256 EC public keys are supported")


def _public_key(raw: bytes) -> dict[str, Any]:
    key = load_pem_public_key(raw)
    return {algorithm_of(key): key}


def _jwks(raw: bytes) -> dict[tuple[str, str], Any]:
    """(kid, algorithm) -> key; keys without a kid or with another algorithm are unusable."""
    keys = {}
    for jwk in jwt.PyJWKSet.from_json(raw.decode()).keys:
        if jwk.key_id and jwk.algorithm_name in PUBLIC_KEY_ALGORITHMS:
            keys[(jwk.key_id, jwk.algorithm_name)] = jwk.key
    if not keys:
        raise ValueError("the JWKS has no RS256/ES256 key with a kid")
    return keys


def _watch(path: Path | None, parse: Any, empty: Any) -> WatchedFile[Any] | None:
    return WatchedFile(path, parse, empty) if path else None


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """RFC 8693 `scope` (space-separated) and Azure/Okta-style `scp` (list or string)."""
    scopes: set[str] = set()
    for claim in ("scope", "scp"):
        value = claims.get(claim)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(s for s in value if isinstance(s, str))
    return frozenset(scopes)


_REJECTIONS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token is not meant for this service (aud)"),
    (jwt.InvalidIssuerError, "the token comes from an issuer this service does not trust"),
    (jwt.MissingRequiredClaimError, "the token lacks a required claim (exp, aud, iss, sub)"),
    (jwt.InvalidSignatureError, "the token signature does not verify"),
]


class JwtVerifier:
    def __init__(self, settings: Settings) -> None:
        assert settings.jwt_audience and settings.jwt_issuer  # Settings enforces both
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.leeway_s = settings.jwt_leeway_s
        self._secret: WatchedFile[bytes] | None = _watch(settings.jwt_secret_file, _secret, b"")
        self._public_key = _watch(settings.jwt_public_key_file, _public_key, {})
        self._jwks = _watch(settings.jwt_jwks_file, _jwks, {})

    def _key(self, algorithm: str, kid: Any) -> Any:
        key = None
        if algorithm == HMAC_ALGORITHM and self._secret:
            key = self._secret.get() or None
        elif algorithm in PUBLIC_KEY_ALGORITHMS:
            if self._jwks and isinstance(kid, str):
                key = self._jwks.get().get((kid, algorithm))
            if key is None and self._public_key:
                key = self._public_key.get().get(algorithm)
        if key is None:
            raise AuthenticationError("the token's algorithm or key id is not accepted here")
        return key

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("the bearer token is not a well-formed JWT") from None
        algorithm = str(header.get("alg"))
        key = self._key(algorithm, header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError as exc:
            message = next(
                (m for cls, m in _REJECTIONS if isinstance(exc, cls)), "the token is invalid"
            )
            raise AuthenticationError(message) from None
        return Principal(subject=f"jwt:{claims['iss']}#{claims['sub']}", scopes=scopes_of(claims))
