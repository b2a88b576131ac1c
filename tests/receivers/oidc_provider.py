"""An OpenID provider on loopback for tests/api/sso.rs: `oidc-provider-mock` (PyPI; Authlib's
authorization server underneath) with what the tests need on top of it.

    python oidc_provider.py      prints its port on the first line of stdout

As oidc-provider-mock serves it (clients must register; every authorization needs a nonce):
    GET  /.well-known/openid-configuration, /jwks
    POST /oauth2/clients        {"redirect_uris": [...]}: a client id and secret
    PUT  /users/<sub>           the claims of a person (email, email_verified, name, ...)
    POST /oauth2/authorize?...  form `sub=<sub>` authorises that person without a browser
                                (`action=deny` declines): 302 to the redirect URI
    POST /oauth2/token          the code for tokens (client_secret_basic)

Added here:
    PKCE (RFC 7636), which the mock does not check: an authorization request must carry an
        S256 `code_challenge`, and the token request the `code_verifier` that hashes to it
        (otherwise 400 invalid_grant).
    Signing keys of our own: every ID token is signed again with the current key, its `kid`
        in the header. POST /_rotate {"keep_old": bool} makes a new current key; the JWKS
        lists it (and the previous one when keep_old).
    PUT /_next_id_token {"claims": {...}, "kid": "..."}: the next ID token has these claims
        changed (null removes one) and/or this `kid` in its header: a wrong `aud`, a wrong
        `nonce`, a key id nobody publishes.
    A declined authorization ("deny") answers with the request's `state`, as RFC 6749 says.
    GET /_stats: {"jwks_fetches": n}
"""

import base64
import hashlib
import json
import logging
import sys
import threading
import uuid
import warnings
from urllib.parse import parse_qs, urlencode, urlparse

# Authlib announces its own deprecations on import; they are not the test's business.
warnings.filterwarnings("ignore")

import flask
import oidc_provider_mock
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

LOCK = threading.Lock()
STATE = {"keys": [], "next": None, "challenges": {}, "jwks_fetches": 0}


def new_key():
    return RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex, "use": "sig", "alg": "RS256"})


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


app = oidc_provider_mock.app(require_client_registration=True, require_nonce=True)


def jwks():
    with LOCK:
        STATE["jwks_fetches"] += 1
        keys = list(STATE["keys"])
    return flask.jsonify(KeySet(keys).as_dict(private=False))


app.view_functions["oidc-provider-mock.jwks"] = jwks


@app.before_request
def pkce():
    request = flask.request
    if request.path == "/oauth2/authorize" and request.method == "POST":
        if request.args.get("code_challenge_method") != "S256" or not request.args.get("code_challenge"):
            return flask.jsonify(error="invalid_request", error_description="PKCE with S256 is required"), 400
    if request.path == "/oauth2/token" and request.form.get("grant_type") == "authorization_code":
        with LOCK:
            challenge = STATE["challenges"].pop(request.form.get("code", ""), None)
        verifier = request.form.get("code_verifier", "")
        if challenge is None or b64url(hashlib.sha256(verifier.encode()).digest()) != challenge:
            return flask.jsonify(error="invalid_grant", error_description="PKCE verification failed"), 400
    return None


@app.after_request
def sign_again(response):
    request = flask.request
    if request.path == "/oauth2/authorize" and response.status_code == 302:
        location = response.headers.get("location", "")
        query = parse_qs(urlparse(location).query)
        code = query.get("code")
        if code:
            with LOCK:
                STATE["challenges"][code[0]] = request.args.get("code_challenge")
        elif "error" in query and "state" not in query and request.args.get("state"):
            # RFC 6749, 4.1.2.1: an error answer carries the request's state (the mock's
            # "deny" leaves it out).
            sep = "&" if "?" in location else "?"
            response.headers["location"] = location + sep + urlencode({"state": request.args["state"]})
    if request.path == "/oauth2/token" and response.status_code == 200:
        body = json.loads(response.get_data())
        if "id_token" in body:
            claims = claims_of(body["id_token"])
            with LOCK:
                tamper, STATE["next"] = STATE["next"], None
                key = STATE["keys"][0]
            tamper = tamper or {}
            for name, value in (tamper.get("claims") or {}).items():
                if value is None:
                    claims.pop(name, None)
                else:
                    claims[name] = value
            header = {"alg": "RS256", "kid": tamper.get("kid") or key.kid}
            body["id_token"] = jwt.encode(header, claims, key)
            response.set_data(json.dumps(body))
    return response


@app.post("/_rotate")
def rotate():
    keep_old = (flask.request.get_json(silent=True) or {}).get("keep_old", False)
    with LOCK:
        STATE["keys"] = [new_key()] + (STATE["keys"][:1] if keep_old else [])
    return "", 204


@app.put("/_next_id_token")
def next_id_token():
    with LOCK:
        STATE["next"] = flask.request.get_json()
    return "", 204


@app.get("/_stats")
def stats():
    with LOCK:
        return flask.jsonify(jwks_fetches=STATE["jwks_fetches"])


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("oidc_provider_mock").setLevel(logging.ERROR)
    STATE["keys"] = [new_key()]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
