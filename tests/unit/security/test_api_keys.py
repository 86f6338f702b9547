"""API keys: random, stored only as SHA-256, found in constant time, rotated by file edits."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from deployments.security import api_keys
from deployments.security.api_keys import ApiKeysFile, ApiKeyStore, generate_key, hash_key


def test_keys_are_random_prefixed_and_urlsafe() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith("rsk_")
        body = key.removeprefix("rsk_")
        assert len(body) == 43  # 32 random bytes, base64url without padding
        assert "." not in key  # never mistaken for a JWT


def test_hash_is_sha256_hex_of_the_key() -> None:
    assert hash_key("rsk_abc") == hashlib.sha256(b"rsk_abc").hexdigest()


def test_the_file_holds_hashes_only_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = api_keys.add_key(path, "alice", ["models:*"])
    text = path.read_text()
    assert key not in text and key.removeprefix("rsk_") not in text
    assert json.loads(text)["keys"][0]["sha256"] == hash_key(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_find_matches_only_the_exact_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    alice = api_keys.add_key(path, "alice", ["models:*"])
    bob = api_keys.add_key(path, "bob", ["admin"])
    store = ApiKeyStore(path)
    found = store.find(alice)
    assert found is not None and found.name == "alice"
    found = store.find(bob)
    assert found is not None and found.principal().scopes == frozenset({"admin"})
    for wrong in (alice[:-1], alice + "x", alice.upper(), "", hash_key(alice)):
        assert store.find(wrong) is None


def test_rotation_is_picked_up_without_restart(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old = api_keys.add_key(path, "old", ["models:*"])
    store = ApiKeyStore(path)
    assert store.find(old) is not None
    new = api_keys.add_key(path, "new", ["models:*"])
    assert store.find(new) is not None  # same store object: the file was re-read
    assert api_keys.revoke_key(path, "old")
    assert store.find(old) is None and store.find(new) is not None


def test_replacement_with_same_size_and_mtime_is_noticed(tmp_path: Path) -> None:
    # An atomic replace gives a new inode even when neither the clock nor the size moved.
    path = tmp_path / "keys.json"
    first = api_keys.add_key(path, "k", [])
    store = ApiKeyStore(path)
    assert store.find(first) is not None
    before = path.stat()
    second = generate_key()
    rotated = api_keys.load(path).keys[0].model_copy(update={"sha256": hash_key(second)})
    api_keys.save(path, ApiKeysFile(keys=[rotated]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert store.find(first) is None and store.find(second) is not None


def test_missing_or_broken_file_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = api_keys.add_key(path, "k", [])
    store = ApiKeyStore(path)
    assert store.find(key) is not None
    path.write_text('{"keys": [{"name": "k", "sha256": "not-hex"}]}')
    assert store.find(key) is None
    path.unlink()
    assert store.find(key) is None
    assert ApiKeyStore(tmp_path / "never-created.json").find(key) is None


def test_names_are_unique_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    api_keys.add_key(path, "ci", [])
    with pytest.raises(ValueError, match="already exists"):
        api_keys.add_key(path, "ci", [])
    record = {"name": "x", "sha256": "0" * 64}
    with pytest.raises(ValidationError, match="unique"):
        ApiKeysFile.model_validate({"keys": [record, record]})
    with pytest.raises(ValidationError):
        ApiKeysFile.model_validate({"keys": [{"name": "bad name", "sha256": "0" * 64}]})


def _cli(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"RSIC_API_KEYS_FILE": str(env_file)}
    return subprocess.run(
        [sys.executable, "-m", "deployments.security.manage_keys", *args],
        env=env,
        capture_output=True,
        text=True,
    )


def test_cli_issues_once_lists_and_revokes(tmp_path: Path) -> None:
    path = tmp_path / "run" / "api_keys.json"
    first = _cli("ensure", "local", env_file=path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key.startswith("rsk_") and f"export API_KEY={key}" in first.stderr
    assert ApiKeyStore(path).find(key) is not None
    again = _cli("ensure", "local", env_file=path)
    assert again.returncode == 0 and "rsk_" not in again.stdout + again.stderr
    ci = _cli("add", "ci", "--scope", "models:all-MiniLM-L6-v2", env_file=path)
    listed = _cli("list", env_file=path).stdout
    assert "local\tmodels:* admin" in listed and "ci\tmodels:all-MiniLM-L6-v2" in listed
    assert _cli("revoke", "ci", env_file=path).returncode == 0
    assert ApiKeyStore(path).find(ci.stdout.strip()) is None
    assert _cli("revoke", "ci", env_file=path).returncode != 0
