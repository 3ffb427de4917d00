"""Security primitives: password hashing, keyed hashes, key derivation, tokens, JWTs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import bcrypt
import jwt

from tenantry.core.errors import Unauthenticated, ValidationFailed

JWT_ALGORITHM = "HS256"
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_BYTES = 72  # bcrypt's hard limit; bcrypt 5 raises beyond it


def validate_password(password: str, field: str = "password") -> None:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationFailed.field(
            field, f"must be at least {PASSWORD_MIN_LENGTH} characters; choose a longer password"
        )
    size = len(password.encode())
    if size > PASSWORD_MAX_BYTES:
        raise ValidationFailed.field(
            field,
            f"is {size} bytes long; the limit is {PASSWORD_MAX_BYTES} bytes (UTF-8), "
            "choose a shorter password",
        )


def hash_password(password: str, rounds: int) -> str:
    validate_password(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def verify_password(password: str, hashed: str | None, rounds: int = 12) -> bool:
    raw = password.encode()
    if hashed is None or len(raw) > PASSWORD_MAX_BYTES:
        # Spend the same time as a real check, so a missing account does not show by timing.
        bcrypt.checkpw(b"x", _dummy_hash(rounds))
        return False
    return bcrypt.checkpw(raw, hashed.encode())


_DUMMY_HASHES: dict[int, bytes] = {}


def _dummy_hash(rounds: int) -> bytes:
    if rounds not in _DUMMY_HASHES:
        _DUMMY_HASHES[rounds] = bcrypt.hashpw(b"timing-equaliser", bcrypt.gensalt(rounds=rounds))
    return _DUMMY_HASHES[rounds]


def derive_key(root: bytes, purpose: str) -> bytes:
    """Independent sub-keys from one root key, so one leaked use cannot forge another."""
    return hmac.new(root, b"tenantry:" + purpose.encode(), hashlib.sha256).digest()


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def random_token(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def encode_jwt(key: bytes, claims: dict[str, Any], ttl: timedelta) -> str:
    now = datetime.now(UTC)
    payload = {"iat": now, "nbf": now, "exp": now + ttl, "iss": "tenantry", **claims}
    return jwt.encode(payload, key, algorithm=JWT_ALGORITHM)


def decode_jwt(key: bytes, token: str, *, typ: str) -> dict[str, Any]:
    """Verify signature, algorithm (pinned to HS256; `none` refused), expiry and token type."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[JWT_ALGORITHM],
            issuer="tenantry",
            options={"require": ["exp", "iat", "sub", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired; refresh it or log in again.") from None
    except jwt.PyJWTError:
        raise Unauthenticated("The token is invalid.") from None
    if claims.get("typ") != typ:
        raise Unauthenticated("The token is invalid.")
    return claims


class Keys:
    """Purpose-bound keys derived from the root secret key."""

    def __init__(self, root: bytes):
        self.jwt = derive_key(root, "jwt")
        self.refresh = derive_key(root, "refresh-token")
        self.session = derive_key(root, "web-session")
        self.csrf = derive_key(root, "csrf")
        self.api_key_pepper = derive_key(root, "api-key-pepper")
        self.invite = derive_key(root, "invitation")


class AccessTokenVerifier:
    """Verifies access JWTs, remembering recent verified tokens by their exact text.

    The same bytes always verify the same way, so reuse is safe; expiry is still checked on
    every call. Bounded, and cleared wholesale when full.
    """

    def __init__(self, key: bytes, max_entries: int = 20_000):
        self.key = key
        self.max_entries = max_entries
        self._verified: dict[str, tuple[str, float]] = {}

    def user_id(self, token: str) -> str:
        import time

        hit = self._verified.get(token)
        if hit is not None:
            if hit[1] > time.time():
                return hit[0]
            self._verified.pop(token, None)
        claims = decode_jwt(self.key, token, typ="access")
        if len(self._verified) >= self.max_entries:
            self._verified.clear()
        self._verified[token] = (claims["sub"], float(claims["exp"]))
        return claims["sub"]
