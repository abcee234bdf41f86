#!/usr/bin/env python3
"""Reference client for custos signed API-key requests, written from docs/api-keys.md alone.

HMAC-SHA256 keys need only the standard library; Ed25519 keys need pyca/cryptography
(`pip install cryptography`, tested with 48.0.0).

Library use:

    status, headers, body = signed_request("http://127.0.0.1:8080", "GET", "/api/v1/me", b"",
                                           "ck_...", "hmac-sha256", "cs_...")

Command line:

    custos_signed_client.py --base-url URL --key-id ck_... (--hmac-secret cs_... |
        --ed25519-private-key BASE64_SEED_OR_PEM_FILE) METHOD PATH [JSON]
    custos_signed_client.py --generate-ed25519
    custos_signed_client.py ... --dry-run [--timestamp MS] [--nonce N] METHOD PATH [JSON]

PATH is the request target as it will be sent: path plus optional ?query, already percent-encoded.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request

SCHEME_VERSION = "custos-v1"
KINDS = ("ed25519", "hmac-sha256")


def canonical_request(key_id, timestamp, nonce, method, path, body):
    """The seven lines of the canonical request, joined by LF, no trailing LF, as UTF-8 bytes."""
    lines = [SCHEME_VERSION, key_id, str(timestamp), nonce, method, path, hashlib.sha256(body).hexdigest()]
    return "\n".join(lines).encode("utf-8")


def load_ed25519_private_key(value):
    """An Ed25519PrivateKey from a cryptography key object, 32 raw seed bytes, the seed in standard
    base64, or the path of a PKCS#8 PEM file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if isinstance(value, Ed25519PrivateKey):
        return value
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        return Ed25519PrivateKey.from_private_bytes(bytes(value))
    if isinstance(value, str) and os.path.isfile(value):
        with open(value, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{value} does not hold an Ed25519 private key")
        return key
    seed = base64.b64decode(value, validate=True)
    if len(seed) != 32:
        raise ValueError("an Ed25519 private key seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def sign(kind, secret_or_private_key, canonical):
    """The signature of `canonical` in standard base64 with padding."""
    if kind == "hmac-sha256":
        secret = secret_or_private_key
        key = secret.encode("ascii") if isinstance(secret, str) else bytes(secret)
        raw = hmac.new(key, canonical, hashlib.sha256).digest()
    elif kind == "ed25519":
        raw = load_ed25519_private_key(secret_or_private_key).sign(canonical)
    else:
        raise ValueError(f"kind must be one of {KINDS}")
    return base64.b64encode(raw).decode("ascii")


def new_nonce():
    """16 random bytes in base64url without padding: 22 characters of [A-Za-z0-9_-]."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


def signed_headers(method, path, body, key_id, kind, secret_or_private_key, timestamp=None, nonce=None):
    timestamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
    nonce = new_nonce() if nonce is None else nonce
    canonical = canonical_request(key_id, timestamp, nonce, method, path, body)
    return {
        "X-Custos-Key": key_id,
        "X-Custos-Timestamp": timestamp,
        "X-Custos-Nonce": nonce,
        "X-Custos-Signature": sign(kind, secret_or_private_key, canonical),
    }


def signed_request(
    base_url, method, path, body_bytes, key_id, kind, secret_or_private_key, timeout=30, extra_headers=None
):
    """Sends one signed request. Returns (status, headers, body bytes); HTTP error statuses are
    returned, not raised."""
    method = method.upper()
    body_bytes = body_bytes or b""
    headers = signed_headers(method, path, body_bytes, key_id, kind, secret_or_private_key)
    if body_bytes:
        headers["Content-Type"] = "application/json"
    headers.update(extra_headers or {})
    url = base_url.rstrip("/") + path
    req = urllib.request.Request(url, data=body_bytes if body_bytes else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def generate_ed25519():
    """A fresh key pair: (private seed, public key), both in standard base64."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(seed).decode("ascii"), base64.b64encode(public).decode("ascii")


def main(argv=None):
    p = argparse.ArgumentParser(description="Send a signed request to custos.")
    p.add_argument("--base-url", default="http://127.0.0.1:8080")
    p.add_argument("--key-id")
    secret = p.add_mutually_exclusive_group()
    secret.add_argument("--hmac-secret", help="the cs_... secret shown when the key was created")
    secret.add_argument("--ed25519-private-key", help="32-byte seed in standard base64, or a PEM file")
    p.add_argument("--generate-ed25519", action="store_true", help="print a new key pair as JSON and exit")
    p.add_argument("--dry-run", action="store_true", help="print canonical request and headers, send nothing")
    p.add_argument("--timestamp", help="override X-Custos-Timestamp (milliseconds; with --dry-run)")
    p.add_argument("--nonce", help="override X-Custos-Nonce (with --dry-run)")
    p.add_argument("method", nargs="?")
    p.add_argument("path", nargs="?")
    p.add_argument("json", nargs="?", help="request body (sent as given)")
    a = p.parse_args(argv)

    if a.generate_ed25519:
        seed, public = generate_ed25519()
        print(json.dumps({"private_key": seed, "public_key": public}))
        return 0
    if not (a.key_id and a.method and a.path and (a.hmac_secret or a.ed25519_private_key)):
        p.error("need --key-id, --hmac-secret or --ed25519-private-key, METHOD and PATH")
    kind, key = ("hmac-sha256", a.hmac_secret) if a.hmac_secret else ("ed25519", a.ed25519_private_key)
    method = a.method.upper()
    body = a.json.encode("utf-8") if a.json is not None else b""

    if a.dry_run:
        headers = signed_headers(method, a.path, body, a.key_id, kind, key, a.timestamp, a.nonce)
        canonical = canonical_request(
            a.key_id, headers["X-Custos-Timestamp"], headers["X-Custos-Nonce"], method, a.path, body
        )
        print(json.dumps({"canonical": canonical.decode("utf-8"), "headers": headers}, indent=2))
        return 0

    status, _, resp_body = signed_request(a.base_url, method, a.path, body, a.key_id, kind, key)
    print(status)
    sys.stdout.write(resp_body.decode("utf-8", errors="replace"))
    if resp_body and not resp_body.endswith(b"\n"):
        sys.stdout.write("\n")
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
