"""Test helpers: tokens carrying chosen claims, as API Gateway would hand them to the app; stand-ins for the
identity provider, the mailer and any HTTP endpoint the app posts to."""
from __future__ import annotations

import base64
import contextlib
import json


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def token_for(sub: str, *, email: str | None = None, groups: list[str] | None = None,
              name: str = "Test User") -> str:
    """An unsigned ID token: Chalice's test client trusts the payload like the gateway would.

    Real signature checks are the gateway's job (and the local server's, tested separately).
    """
    claims = {"sub": sub, "cognito:username": sub, "email": email or f"{sub}@example.com",
              "name": name, "token_use": "id"}
    if groups:
        claims["cognito:groups"] = groups
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.sig"


def auth(sub: str, **kwargs) -> dict[str, str]:
    return {"Authorization": token_for(sub, **kwargs)}


ADMIN = {"Authorization": token_for("admin-1", groups=["admin"])}
CUSTOMER = {"Authorization": token_for("customer-1")}
OTHER_CUSTOMER = {"Authorization": token_for("customer-2")}


class FakeIdentityProvider:
    """An in-memory user pool behind the identity provider's interface (`chalicelib.core.gateways`).

    `with replaced(identity_provider=FakeIdentityProvider())` and no call reaches Cognito.
    """

    def __init__(self, admins: list[str] | None = None):
        self.users: dict[str, dict] = {}  # email -> {"sub", "password", "confirmed", "enabled", "created_at"}
        self.admins = list(admins or [])
        self.signed_out: list[str] = []
        self.signed_up = 0

    def _by_sub(self, username: str) -> dict:
        from chalicelib.core.gateways import ProviderError

        found = next((u for u in self.users.values() if u["sub"] == username), None)
        if found is None:
            raise ProviderError("cognito-idp", "UserNotFoundException")
        return found

    def sign_up(self, email, password):
        from chalicelib.core.gateways import ProviderError, SignedUp
        from chalicelib.core.ids import now

        if email in self.users:
            raise ProviderError("cognito-idp", "UsernameExistsException")
        self.signed_up += 1
        self.users[email] = {"sub": f"sub-{self.signed_up}", "password": password, "confirmed": False,
                             "enabled": True, "created_at": now()}
        return SignedUp(user_id=self.users[email]["sub"], confirmed=False)

    def find(self, email):
        from chalicelib.core.gateways import PoolUser

        user = self.users.get(email)
        return PoolUser(user["sub"], user["confirmed"], user["created_at"]) if user else None

    def admin_confirm(self, username):
        self._by_sub(username)["confirmed"] = True

    def password_sign_in(self, email, password):
        from chalicelib.core.gateways import ProviderError, SignedIn

        user = self.users.get(email)
        if user is None or user["password"] != password or not user["enabled"]:
            raise ProviderError("cognito-idp", "NotAuthorizedException")
        if not user["confirmed"]:
            raise ProviderError("cognito-idp", "UserNotConfirmedException")
        return SignedIn(id_token=f"id.{user['sub']}.sig", access_token="access", refresh_token="refresh",
                        expires_in=3600)

    def disable(self, username):
        self._by_sub(username)["enabled"] = False

    def enable(self, username):
        self._by_sub(username)["enabled"] = True

    def global_sign_out(self, username):
        self._by_sub(username)
        self.signed_out.append(username)

    def delete(self, username):
        email = next(e for e, u in self.users.items() if u["sub"] == self._by_sub(username)["sub"])
        del self.users[email]

    def user_ids_in_group(self, group):
        return list(self.admins) if group == "admin" else []


class FakeMailer:
    """Keeps what it is asked to send; refuses (as SES would) while `refusing` is set."""

    def __init__(self, refusing: str | None = None):
        self.sent: list[tuple[str, str, str]] = []
        self.refusing = refusing

    def send(self, to, subject, text):
        from chalicelib.core.gateways import ProviderError

        if self.refusing:
            raise ProviderError("ses", self.refusing)
        self.sent.append((to, subject, text))


@contextlib.contextmanager
def http_receiver():
    """An HTTP endpoint on 127.0.0.1 that records each POST as (path, headers, raw body) and answers 200 with no
    body. Yields its URL and the list of what it received; stops when the block ends."""
    import http.server
    import threading

    received: list[tuple[str, object, bytes]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.path, self.headers, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()
