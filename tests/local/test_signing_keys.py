"""Each local user pool's own signing key: kept on the pool and in a file, so it outlives a restart."""
from __future__ import annotations

import pickle
import stat

from local.signing_keys import private_jwk, public_jwks


class Pool:
    """What the signing keys need of moto's pool: its id, and a place to keep the key."""

    def __init__(self, pool_id: str):
        self.id = pool_id


def test_a_pools_key_is_found_again_after_a_restart_whichever_way_its_state_comes_back(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_SIGNING_KEYS_DIR", str(tmp_path))
    pool = Pool("us-east-1_first")
    key = private_jwk(pool)
    assert key["kty"] == "RSA" and key["kid"] and "d" in key
    assert private_jwk(Pool("us-east-1_first")) == key  # the pool made again with its id: from the file
    (tmp_path / "us-east-1_first.json").unlink()
    assert private_jwk(pickle.loads(pickle.dumps(pool))) == key  # the pool's state restored: it carries its key
    other = private_jwk(Pool("us-east-1_second"))
    assert (other["n"], other["kid"]) != (key["n"], key["kid"])
    assert stat.S_IMODE((tmp_path / "us-east-1_second.json").stat().st_mode) == 0o600


def test_the_jwks_serves_only_the_public_half(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_SIGNING_KEYS_DIR", str(tmp_path))
    pool = Pool("us-east-1_public")
    (served,) = public_jwks(pool)["keys"]
    assert set(served) == {"kty", "n", "e", "kid", "alg", "use"} and served["kid"] == private_jwk(pool)["kid"]
