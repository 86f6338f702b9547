"""API keys: generated with 256 bits of entropy, stored only as SHA-256 hashes.

A plain (unsalted, fast) hash is enough because the keys are random, not chosen by people:
nobody can brute-force 2^256 candidates, so a slow password hash (bcrypt, argon2) would add
nothing but ~100 ms of CPU to every request. Salt defends against precomputed tables of
likely passwords, and there are no likely keys. The hashes file is therefore not a secret
that unlocks anything, but it is still written 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.security.principal import Principal
from deployments.security.watched_file import WatchedFile

# Marks our keys in logs and for secret scanners; never part of the entropy.
KEY_PREFIX = "rsk_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(BaseModel):
    """One client's key, as stored: its hash, never the key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
        description="Who holds the key; the rate-limit identity and what logs show.",
    )
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the key.")
    scopes: list[str] = Field(
        default_factory=list, description="`models:<id>`, `models:*` and/or `admin`."
    )
    created: datetime | None = Field(None, description="When the key was issued.")

    def principal(self) -> Principal:
        return Principal(subject=f"key:{self.name}", scopes=frozenset(self.scopes))


class ApiKeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[ApiKey] = Field(default_factory=list, description="Every valid key.")

    @field_validator("keys")
    @classmethod
    def _unique_names(cls, keys: list[ApiKey]) -> list[ApiKey]:
        names = [k.name for k in keys]
        if len(names) != len(set(names)):
            raise ValueError(f"key names must be unique: {sorted(names)}")
        return keys


def _parse(raw: bytes) -> list[ApiKey]:
    return ApiKeysFile.model_validate_json(raw).keys


class ApiKeyStore:
    """Looks keys up in a keys file that may be rewritten at any time (rotation)."""

    def __init__(self, path: Path) -> None:
        self._file: WatchedFile[list[ApiKey]] = WatchedFile(path, _parse, [])

    @property
    def path(self) -> Path:
        return self._file.path

    def find(self, presented: str) -> ApiKey | None:
        digest = hashlib.sha256(presented.encode()).digest()
        found = None
        # Every stored hash is compared, in constant time and without stopping at a match,
        # so response timing says nothing about how much of a hash a guess got right.
        for key in self._file.get():
            if hmac.compare_digest(digest, bytes.fromhex(key.sha256)):
                found = key
        return found


def load(path: Path) -> ApiKeysFile:
    return ApiKeysFile.model_validate_json(path.read_bytes()) if path.exists() else ApiKeysFile()


def save(path: Path, keys: ApiKeysFile) -> None:
    """Replace the file atomically (readers see the old or the new one, never half) as 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(keys.model_dump_json(indent=2, exclude_none=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def add_key(path: Path, name: str, scopes: list[str]) -> str:
    """Issue a key: its hash goes in the file, the key itself is returned once."""
    current = load(path)
    if any(k.name == name for k in current.keys):
        raise ValueError(f"a key named {name!r} already exists in {path}")
    key = generate_key()
    record = ApiKey(
        name=name,
        sha256=hash_key(key),
        scopes=scopes,
        created=datetime.now(UTC).replace(microsecond=0),
    )
    save(path, ApiKeysFile(keys=[*current.keys, record]))
    return key


def revoke_key(path: Path, name: str) -> bool:
    current = load(path)
    kept = [k for k in current.keys if k.name != name]
    if len(kept) == len(current.keys):
        return False
    save(path, ApiKeysFile(keys=kept))
    return True
