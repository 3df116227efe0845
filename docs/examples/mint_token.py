"""Minting an edge-chat user token on your own backend, in Python with PyJWT.

    pip install "pyjwt[crypto]"      # PyJWT with cryptography (RS256, ES256, EdDSA)

See docs/auth.md. As a script:

    SIGNING_KEY_FILE=private.pem python mint_token.py my-key-1 alice [lobby,random]  # RS256
    SIGNING_KEY_FILE=ec.pem ALG=ES256 python mint_token.py my-key-2 alice           # ES256, EdDSA
    SIGNING_SECRET=... ALG=HS256 python mint_token.py 2026-06 alice                 # AUTH_SECRETS

ISSUER and AUDIENCE set `iss` and `aud` (when the worker has AUTH_ISSUER, AUTH_AUDIENCE).
"""
import os
import sys
import time

import jwt  # PyJWT


def mint_token(user, kid, key, alg="RS256", rooms=None, issuer=None, audience=None, ttl_seconds=3600):
    """A token for `user`, signed with `key`: a PEM private key (RS256, ES256, EdDSA: the worker
    finds its public half in AUTH_JWKS_URL's set under `kid`) or, for HS256, the secret that the
    worker's AUTH_SECRETS lists under `kid`."""
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + ttl_seconds}  # iat: what a revocation compares
    if rooms is not None:
        claims["rooms"] = rooms
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


if __name__ == "__main__":
    kid, user = sys.argv[1], sys.argv[2]
    alg = os.environ.get("ALG", "RS256")
    if alg == "HS256":
        key = os.environ["SIGNING_SECRET"]
    else:
        with open(os.environ["SIGNING_KEY_FILE"]) as f:
            key = f.read()
    rooms = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    print(mint_token(user, kid, key, alg, rooms, os.environ.get("ISSUER"), os.environ.get("AUDIENCE")))
