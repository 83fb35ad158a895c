"""A real OpenID Connect provider for tests, built from Authlib's server components.

A small Flask app of its own (discovery, authorization with a login form, token endpoint
issuing RS256-signed ID tokens, JWKS), served over HTTP on a free loopback port by werkzeug in
a thread. Herald talks to it exactly as to a production IdP: discovery, PKCE, nonce,
client_secret_basic, signature checked against the JWKS.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

from jobs.embedded_redis import free_port


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in ("openid", "email", "profile"))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic" if endpoint == "token" else True

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return None


class Provider:
    """The IdP's state: its clients, its users (username → password and claims)."""

    def __init__(self):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig",
                                                         "alg": "RS256"}, private=True)
        self.signing_key = None  # set to another key to sign tokens the JWKS does not verify
        self.clients: dict[str, Client] = {}
        self.users: dict[str, tuple[str, dict]] = {}
        self.codes: dict[str, Code] = {}
        self.tokens_issued = 0
        # Misbehaviours for "Test sign-in": keys changed in (None: left out of) the discovery
        # document, a raw non-JSON body served instead of a path's, a delay before answering.
        self.discovery_changes: dict = {}
        self.raw: dict[str, str] = {}
        self.delay = 0.0
        self.heard: list[str] = []  # the path of every request received, in order
        self.app = self._build_app()
        self._server = None
        self._thread = None

    def add_client(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.clients[client_id] = Client(client_id, client_secret, [redirect_uri])

    def add_user(self, username: str, password: str, **claims) -> None:
        """``claims``: sub, email, email_verified, name, groups, …"""
        self.users[username] = (password, {"sub": username, **claims})

    def _build_app(self) -> Flask:
        provider = self
        app = Flask("test-oidc-provider")
        app.config["OAUTH2_SCOPES_SUPPORTED"] = ["openid", "email", "profile"]

        class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code, req):
                provider.codes[code] = Code(
                    code=code, client_id=req.client.client_id,
                    redirect_uri=req.payload.redirect_uri, scope=req.scope, user=req.user,
                    nonce=req.payload.data.get("nonce"),
                    code_challenge=req.payload.data.get("code_challenge"),
                    code_challenge_method=req.payload.data.get("code_challenge_method"))

            def query_authorization_code(self, code, client):
                item = provider.codes.get(code)
                return item if item and item.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class Challenge(CodeChallenge):
            def get_authorization_code_challenge(self, authorization_code):
                return authorization_code.code_challenge

            def get_authorization_code_challenge_method(self, authorization_code):
                return authorization_code.code_challenge_method

        class OpenIDCodeExt(OpenIDCode):
            def exists_nonce(self, nonce, req):
                return any(c.nonce == nonce for c in provider.codes.values())

            def resolve_client_private_key(self, client):
                return provider.signing_key or provider.key

            def get_client_algorithm(self, client):
                return "RS256"

            def get_encode_header(self, client):
                return {"alg": "RS256", "kid": "test-key"}

            def get_client_claims(self, client):
                return {"iss": provider.issuer, "aud": [client.client_id]}

            def generate_user_info(self, user, scope):
                return UserInfo(user)

        def save_token(token, req):
            provider.tokens_issued += 1

        server = AuthorizationServer(app, query_client=self.clients.get, save_token=save_token)
        server.register_grant(AuthorizationCodeGrant,
                              [OpenIDCodeExt(require_nonce=True), Challenge(required=True)])

        @app.before_request
        def misbehave():
            provider.heard.append(request.path)
            if provider.delay:
                time.sleep(provider.delay)
            if request.path in provider.raw:
                return provider.raw[request.path], 200, {"Content-Type": "text/html"}
            return None

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({k: v for k, v in {
                "issuer": provider.issuer,
                "authorization_endpoint": provider.issuer + "/authorize",
                "token_endpoint": provider.issuer + "/token",
                "jwks_uri": provider.issuer + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "email", "profile"],
                **provider.discovery_changes}.items() if v is not None})

        @app.get("/jwks")
        def jwks():
            return jsonify({"keys": [provider.key.as_dict(private=False)]})

        @app.route("/authorize", methods=["GET", "POST"])
        def authorize():
            if request.method == "GET":
                server.get_consent_grant(end_user=None)  # validates the request
                return ("<form method=post><input name=username><input name=password "
                        "type=password><button>Log in</button></form>")
            entry = provider.users.get(request.form.get("username", ""))
            if entry is None or entry[0] != request.form.get("password"):
                return "wrong username or password", 401
            user = dict(entry[1])
            grant = server.get_consent_grant(end_user=user)
            return server.create_authorization_response(grant=grant, grant_user=user)

        @app.post("/token")
        def token():
            return server.create_token_response()

        return app

    def start(self) -> Provider:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
