"""JWT access tokens, signed for real (HS256, RS256, ES256) and verified by JwtVerifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from deployments.errors import AuthenticationError
from deployments.security.jwt_tokens import JwtVerifier
from deployments.security.settings import Settings
from tests.support.credentials import AUDIENCE, ISSUER, JwtIssuer


@pytest.fixture(scope="module")
def issuer() -> JwtIssuer:
    return JwtIssuer()


@pytest.fixture
def verifier(issuer: JwtIssuer, tmp_path: Path) -> JwtVerifier:
    """Secret + JWKS, as the live cluster is configured."""
    env = issuer.write(tmp_path)
    return JwtVerifier(
        Settings(
            jwt_secret_file=env["RSIC_JWT_SECRET_FILE"],
            jwt_jwks_file=env["RSIC_JWT_JWKS_FILE"],
            jwt_audience=AUDIENCE,
            jwt_issuer=ISSUER,
            jwt_leeway_s=5,
        )
    )


def rejected(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(token)
    return info.value.message


@pytest.mark.parametrize("alg", ["HS256", "RS256", "ES256"])
def test_valid_tokens_become_principals(verifier: JwtVerifier, issuer: JwtIssuer, alg: str) -> None:
    principal = verifier.verify(issuer.token(alg, sub="svc-7", scope="models:m admin"))
    assert principal.subject == f"jwt:{ISSUER}#svc-7"
    assert principal.scopes == frozenset({"models:m", "admin"})


def test_scp_claim_as_list_or_string(verifier: JwtVerifier, issuer: JwtIssuer) -> None:
    as_list = verifier.verify(issuer.token(scope=None, scp=["models:a", "models:b"]))
    as_string = verifier.verify(issuer.token(scope=None, scp="models:a models:b"))
    assert as_list.scopes == as_string.scopes == frozenset({"models:a", "models:b"})
    assert verifier.verify(issuer.token(scope=None)).scopes == frozenset()


def test_expired_and_not_yet_valid(verifier: JwtVerifier, issuer: JwtIssuer) -> None:
    assert "expired" in rejected(verifier, issuer.token(expires_in=-60))
    # Within the leeway (5 s) an expired token still passes: clocks drift.
    verifier.verify(issuer.token(expires_in=-2))
    future = int(time.time()) + 60
    assert "not valid yet" in rejected(verifier, issuer.token(nbf=future))


def test_audience_and_issuer_are_enforced(verifier: JwtVerifier, issuer: JwtIssuer) -> None:
    assert "aud" in rejected(verifier, issuer.token(aud="another-api"))
    assert "issuer" in rejected(verifier, issuer.token(iss="https://evil.invalid/"))
    for token in (
        issuer.token(exp=None),
        issuer.token(aud=None),
        issuer.token(iss=None),
        issuer.token(sub=None),
    ):
        assert "required claim" in rejected(verifier, token)


def test_forged_signatures_are_rejected(verifier: JwtVerifier, issuer: JwtIssuer) -> None:
    header, payload, signature = issuer.token("ES256").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert "signature" in rejected(verifier, f"{header}.{forged}.{signature}")
    # Same kid, another key: an attacker's own EC key.
    attacker = JwtIssuer(ec_key=ec.generate_private_key(ec.SECP256R1()), secret=b"x" * 32)
    assert "signature" in rejected(verifier, attacker.token("ES256"))
    assert "signature" in rejected(verifier, attacker.token("HS256"))


def test_algorithm_confusion_is_impossible(
    verifier: JwtVerifier, issuer: JwtIssuer, tmp_path: Path
) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "scope": "admin"}
    unsigned = jwt.encode(claims, "", algorithm="none")
    assert "not accepted" in rejected(verifier, unsigned)
    # HS256 "signed" with the public key: only the configured secret verifies HS256.
    pem_only = JwtVerifier(
        Settings(
            jwt_public_key_file=_write(tmp_path / "ec.pem", issuer.public_pem("ES256")),
            jwt_audience=AUDIENCE,
            jwt_issuer=ISSUER,
        )
    )
    confused = _hs256(claims, issuer.public_pem("ES256"))
    assert "not accepted" in rejected(pem_only, confused)
    # An RS256 token when only an EC public key is configured.
    assert "not accepted" in rejected(pem_only, issuer.token("RS256"))
    assert pem_only.verify(issuer.token("ES256")).subject.endswith("#client-1")


def test_unknown_kid_and_garbage(verifier: JwtVerifier, issuer: JwtIssuer) -> None:
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60},
        issuer.ec_key,
        algorithm="ES256",
        headers={"kid": "ec-999"},
    )
    assert "not accepted" in rejected(verifier, token)
    assert "well-formed" in rejected(verifier, "a.b.c")


def test_jwks_rotation_is_picked_up(issuer: JwtIssuer, tmp_path: Path) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(issuer.jwks()))
    verifier = JwtVerifier(
        Settings(jwt_jwks_file=jwks_file, jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
    )
    verifier.verify(issuer.token("ES256"))
    successor = JwtIssuer(rsa_key=issuer.rsa_key)  # new EC key under the same kid
    jwks_file.write_text(json.dumps(successor.jwks()))
    assert "signature" in rejected(verifier, issuer.token("ES256"))
    verifier.verify(successor.token("ES256"))


def test_short_hs256_secret_fails_closed(issuer: JwtIssuer, tmp_path: Path) -> None:
    verifier = JwtVerifier(
        Settings(
            jwt_secret_file=_write(tmp_path / "secret", b"too-short"),
            jwt_audience=AUDIENCE,
            jwt_issuer=ISSUER,
        )
    )
    short = _hs256(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60}, b"too-short"
    )
    assert "not accepted" in rejected(verifier, short)


@pytest.mark.parametrize(
    ("secret", "file_bytes"),
    [
        (b"\r" + b"k" * 31 + b" ", b"\r" + b"k" * 31 + b" "),  # edge bytes are key material
        (b"\n" + b"\x00" * 32 + b"\t", b"\n" + b"\x00" * 32 + b"\t"),
        (b"s" * 40, b"s" * 40 + b"\n"),  # echo's newline is not
        (b"s" * 40, b"s" * 40 + b"\r\n"),
        (b"s" * 40 + b"\n", b"s" * 40 + b"\n\n"),  # only one line ending goes
    ],
    ids=["edge-whitespace", "binary", "echo-newline", "crlf", "one-ending-only"],
)
def test_hs256_secret_file_is_read_byte_for_byte(
    tmp_path: Path, secret: bytes, file_bytes: bytes
) -> None:
    verifier = JwtVerifier(
        Settings(
            jwt_secret_file=_write(tmp_path / "secret", file_bytes),
            jwt_audience=AUDIENCE,
            jwt_issuer=ISSUER,
        )
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": int(time.time()) + 60}
    assert verifier.verify(_hs256(claims, secret)).subject == f"jwt:{ISSUER}#x"


def test_settings_require_audience_and_issuer_with_any_jwt_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="JWT_AUDIENCE and RSIC_JWT_ISSUER"):
        Settings(jwt_jwks_file=tmp_path / "jwks.json", jwt_issuer=ISSUER)
    assert not Settings(api_keys_file=tmp_path / "k.json").jwt_enabled


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RSIC_API_KEYS_FILE", str(tmp_path / "k.json"))
    monkeypatch.setenv("RSIC_JWT_JWKS_FILE", str(tmp_path / "jwks.json"))
    monkeypatch.setenv("RSIC_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("RSIC_JWT_ISSUER", ISSUER)
    settings = Settings()
    assert settings.api_keys_file == tmp_path / "k.json" and settings.jwt_enabled


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, object], key: bytes) -> str:
    """HS256 by hand: PyJWT rightly refuses to sign with a PEM or a short key."""
    signing_input = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
