""""Test sign-in" on the single sign-on settings: before saving, fetch the provider's OpenID
Connect discovery document and its signing keys (JWKS) with the settings as typed, and say
step by step what worked and what did not.

Every connection goes through the same guard as the upload servers (jobs/delivery/targets.py):
a loopback, private, link-local or multicast address is refused unless ALLOW_PRIVATE_TARGETS,
the name is resolved once and the socket goes to a checked address, redirects included (the
real login's connections go through the same guard, ``guard``). Each
answer is awaited at most SSO_HTTP_TIMEOUT seconds, the whole test twice that, and a body is
read up to MAX_BODY bytes; tests count against the user's connection-test limit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from marshmallow import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from jobs.delivery import targets
from jobs.delivery.base import DeliveryFailed

from ..schemas.people import SsoSettingsSchema

MAX_BODY = 512 * 1024
REDIRECTS = 3
WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass
class Step:
    name: str
    ok: bool
    message: str


@dataclass
class SignInTest:
    """The steps tried, in order; ``fields``: messages for the form's fields in error."""

    steps: list[Step] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and not self.fields

    def add(self, name: str, ok: bool, message: str) -> None:
        self.steps.append(Step(name, ok, message))


class Unusable(Exception):
    """An answer that is not what was asked for; the message says why."""


# -- connections to checked addresses only ----------------------------------------------------


class _Checked:
    def _new_conn(self):
        try:
            return targets.connect(self._dns_host, self.port, self.timeout)
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"connecting to {self.host} timed out") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"cannot connect ({exc.strerror or exc})") from exc


class _CheckedHTTP(_Checked, HTTPConnection):
    pass


class _CheckedHTTPS(_Checked, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTP


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPS


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool,
                                                   "https": _CheckedHTTPSPool}


def guard(session: requests.Session) -> requests.Session:
    """Make every connection of ``session`` go to a checked address (no proxy from the
    environment: it would connect for us, unchecked; at most REDIRECTS redirects). A refused
    address raises targets.PrivateTarget from the request, a name that does not resolve
    DeliveryFailed. The real login's Authlib session uses it too (services/sso.py)."""
    session.trust_env = False
    session.max_redirects = REDIRECTS
    adapter = _CheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def checked_session() -> requests.Session:
    """A requests session whose every connection goes to a checked address."""
    return guard(requests.Session())


def get_json(session: requests.Session, url: str, deadline: float) -> object:
    """The JSON ``url`` answers, within ``deadline`` (time.monotonic()); Unusable otherwise."""
    timeout = current_app.config["SSO_HTTP_TIMEOUT"]
    try:
        with session.get(url, stream=True, headers={"Accept": "application/json"},
                         timeout=max(0.1, min(timeout, deadline - time.monotonic()))) as answer:
            if answer.status_code != 200:
                raise Unusable(f"{url} answered HTTP {answer.status_code} {answer.reason or ''}"
                               .rstrip() + ".")
            body = bytearray()
            for chunk in answer.iter_content(16384):
                body += chunk
                if len(body) > MAX_BODY:
                    raise Unusable(f"{url} sent more than {MAX_BODY // 1024} KB.")
                if time.monotonic() > deadline:
                    raise requests.Timeout
    except requests.Timeout:
        raise Unusable(f"No answer from {url} within {timeout:g} s "
                       "(SSO_HTTP_TIMEOUT).") from None
    except targets.PrivateTarget as exc:
        raise Unusable(str(exc)) from None
    except DeliveryFailed as exc:  # the name does not resolve
        raise Unusable(f"{url} cannot be reached: {exc}.") from None
    except requests.TooManyRedirects:
        raise Unusable(f"{url} redirects more than {REDIRECTS} times.") from None
    except requests.RequestException as exc:
        raise Unusable(f"{url} cannot be reached: {reason(exc)}.") from None
    try:
        return json.loads(bytes(body))
    except ValueError:
        kind = answer.headers.get("Content-Type", "no content type").split(";")[0]
        raise Unusable(f"{url} did not answer JSON (it sent {kind}): is this the right "
                       "address?") from None


def reason(exc: Exception) -> str:
    """The innermost cause, in a few words (connection refused, name not known, …)."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        seen = seen.__cause__ or seen.__context__
    if isinstance(seen, NewConnectionError):
        return str(seen).split(": ", 1)[-1]
    text = str(getattr(seen, "reason", None) or seen)
    return text if len(text) < 200 else text[:200] + "…"


def _fail(result: SignInTest, name: str, message: str) -> None:
    result.add(name, False, message)


# -- the test ----------------------------------------------------------------------------------


def test_sign_in(issuer: str, client_id: str, has_secret: bool) -> SignInTest:
    """Discovery, then JWKS, with the typed issuer; the client id and secret are only said
    to be present (the provider checks them at the first real sign-in)."""
    result = SignInTest()
    try:
        issuer = SsoSettingsSchema(only=("issuer",)).load({"issuer": issuer})["issuer"]
    except ValidationError as exc:
        result.fields["issuer"] = " ".join(exc.messages["issuer"])
    if not result.fields and not issuer:
        result.fields["issuer"] = "Type the issuer to test sign-in."
    if not client_id.strip():
        result.fields["client_id"] = "Client id is required to sign in."
    if not has_secret:
        result.fields["client_secret"] = "Client secret is required to sign in."  # noqa: S105
    if "issuer" in result.fields:
        return result
    deadline = time.monotonic() + 2 * current_app.config["SSO_HTTP_TIMEOUT"]
    with checked_session() as session:
        keys_url = _discovery(session, issuer, deadline, result)
        if keys_url:
            _keys(session, keys_url, deadline, result)
    return result


def _discovery(session, issuer: str, deadline: float, result: SignInTest) -> str | None:
    url = issuer + WELL_KNOWN
    name = "Discovery document"
    try:
        doc = get_json(session, url, deadline)
    except Unusable as exc:
        result.fields["issuer"] = "Test sign-in could not read this issuer's discovery document."
        return _fail(result, name, str(exc))
    if not isinstance(doc, dict):
        return _fail(result, name, f"{url} answered JSON that is not an object.")
    stated = str(doc.get("issuer") or "").rstrip("/")
    if stated != issuer:
        result.fields["issuer"] = f"The provider calls itself {stated or '(nothing)'}: type " \
                                  "that issuer exactly."
        return _fail(result, name, f"Issuer mismatch: the discovery document names the "
                                       f"issuer “{stated or '(none)'}”, not “{issuer}”; "
                                       "sign-ins would be refused.")
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")
               if not isinstance(doc.get(k), str) or not doc[k].strip()]
    if missing:
        return _fail(result, name, f"The discovery document has no {', '.join(missing)}"
                                       ": Herald cannot sign anyone in with it.")
    keys_url = doc["jwks_uri"].strip()
    parts = urlsplit(keys_url)
    if parts.scheme not in ("https", "http") or not parts.hostname or (
            parts.scheme == "http" and urlsplit(issuer).scheme == "https"):
        return _fail(result, name, f"The jwks_uri {keys_url} is not an https:// URL.")
    result.add(name, True, f"Found at {url}: issuer matches, sign-in at "
                           f"{doc['authorization_endpoint']}.")
    return keys_url


def _keys(session, url: str, deadline: float, result: SignInTest) -> None:
    name = "Signing keys (JWKS)"
    try:
        doc = get_json(session, url, deadline)
    except Unusable as exc:
        result.add(name, False, str(exc))
        return
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not keys:
        result.add(name, False, f"{url} lists no keys: Herald could not check any sign-in.")
        return
    try:
        KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        result.add(name, False, f"{url} has a key Herald cannot read ({exc}).")
        return
    signing = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    if not signing:
        result.add(name, False, f"{url} has no signing key (every key is for encryption).")
        return
    algs = sorted({str(k.get("alg") or k.get("kty")) for k in signing})
    result.add(name, True, f"{len(signing)} signing key{'s' if len(signing) != 1 else ''} "
                           f"({', '.join(algs)}) at {url}.")
