"""Token signing keys of the local user pools: one RSA key per pool, made when the pool first signs.

moto signs every pool's tokens with one private key shipped inside its package, so anyone could sign an
admin token the local gateway would accept. `install()` gives each pool its own key instead: its JWKS
(`/<pool id>/.well-known/jwks.json`) serves that key's public half under its own `kid`, and its tokens
carry that `kid`, as Cognito's do. A token signed with the packaged key (or any other) answers 401.

A key is kept twice, so tokens issued before a restart keep verifying after it: on its pool, as plain
data (a snapshot of the emulator's state carries it), and in a file `<directory>/<pool id>.json`
(mode 0600; a pool rebuilt with the same id finds its key there). The directory is
`LOCAL_SIGNING_KEYS_DIR`, by default `.local-stack/signing-keys` beside the rest of the local stack's state.
"""
from __future__ import annotations

import json
import os
import pathlib
import threading
import uuid
from typing import Any

TESTED_MOTO = ("5.2.",)
DEFAULT_DIRECTORY = pathlib.Path(__file__).resolve().parent.parent / ".local-stack" / "signing-keys"
_ATTRIBUTE = "_local_signing_jwk"  # on the pool: the private JWK, a plain dict
_lock = threading.Lock()
_installed: dict[str, Any] = {}


def directory() -> pathlib.Path:
    return pathlib.Path(os.environ.get("LOCAL_SIGNING_KEYS_DIR") or DEFAULT_DIRECTORY)


def private_jwk(pool: Any) -> dict:
    """The pool's own signing key (a private JWK): kept on the pool, else read from its file, else made."""
    found = pool.__dict__.get(_ATTRIBUTE)
    if found:
        return found
    with _lock:
        found = pool.__dict__.get(_ATTRIBUTE) or _read(pool.id) or _made(pool.id)
        pool.__dict__[_ATTRIBUTE] = found
    return found


def public_jwks(pool: Any) -> dict:
    from joserfc.jwk import RSAKey

    return {"keys": [RSAKey.import_key(private_jwk(pool)).as_dict(private=False)]}


def _path(pool_id: str) -> pathlib.Path:
    return directory() / f"{pool_id}.json"


def _read(pool_id: str) -> dict | None:
    try:
        return json.loads(_path(pool_id).read_text())
    except (OSError, ValueError):
        return None


def _made(pool_id: str) -> dict:
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex, "alg": "RS256", "use": "sig"},
                              private=True).as_dict(private=True)
    path = _path(pool_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(key, out)
    temporary.replace(path)
    return key


class _SigningWithTheKeysKid:
    """moto's `jwt` module as its pools use it, except that a token's header names the key that signs it."""

    def __init__(self, real: Any):
        self._real = real

    def encode(self, header: dict, payload: dict, key: Any, *args: Any, **kwargs: Any) -> str:
        return self._real.encode({**header, "kid": key.kid}, payload, key, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _serve_jwks(request: Any, full_url: str, headers: Any) -> tuple[int, dict, bytes]:
    from urllib.parse import urlparse

    from moto.cognitoidp.models import cognitoidp_backends

    pool_id = urlparse(full_url).path.strip("/").split("/")[0]
    for regions in list(cognitoidp_backends.values()):
        for backend in list(regions.values()):
            pool = backend.user_pools.get(pool_id)
            if pool is not None:
                return 200, {"Content-Type": "application/json"}, json.dumps(public_jwks(pool)).encode()
    return 404, {"Content-Type": "application/json"}, json.dumps({"message": f"no user pool {pool_id}"}).encode()


def install() -> None:
    """Give every user pool of this process's moto its own signing key (idempotent)."""
    import moto
    import moto.cognitoidp.models as models
    import moto.cognitoidp.urls as urls
    from joserfc.jwk import RSAKey

    if not moto.__version__.startswith(TESTED_MOTO):
        raise RuntimeError(f"local signing keys are written against moto {', '.join(TESTED_MOTO)}x, "
                           f"not {moto.__version__}: pin moto or update local/signing_keys.py")
    if _installed:
        return
    pool_class = models.CognitoIdpUserPool
    # moto assigns the packaged key in the pool's constructor; the pool's own key is what it signs with.
    pool_class.json_web_key = property(lambda pool: RSAKey.import_key(private_jwk(pool)), lambda pool, _: None)
    models.jwt = _SigningWithTheKeysKid(models.jwt)
    jwks_path = next(path for path in urls.url_paths if path.endswith("jwks.json$"))
    urls.url_paths[jwks_path] = _serve_jwks
    _installed["pool"] = pool_class
