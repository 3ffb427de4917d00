"""Accounts and credentials: sign-up, throttled login, JWTs, rotating refresh tokens, sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from tenantry.core.config import Settings
from tenantry.core.db import new_id, unique_or_conflict, utcnow
from tenantry.core.errors import Conflict, RateLimited, Unauthenticated, ValidationFailed
from tenantry.core.ratelimit import Counter
from tenantry.core.security import (
    Keys,
    encode_jwt,
    hash_password,
    keyed_hash,
    random_token,
    validate_password,
    verify_password,
)
from tenantry.tenancy import audit
from tenantry.tenancy.context import Caller
from tenantry.tenancy.models import RefreshToken, User, WebSession

_EMAIL_TAKEN = "An account with this email already exists; log in instead."


def normalize_email(email: str, field: str = "email") -> str:
    try:
        # No DNS lookups: self-hosted servers are often offline, and it leaks timing.
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed.field(field, f"is not a valid email address ({exc})") from None


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(
        sa.select(User).where(User.email_normalized == email.strip().lower())
    )


async def create_user(
    session: AsyncSession,
    *,
    settings: Settings,
    email: str,
    password: str,
    name: str = "",
    caller: Caller | None = None,
) -> User:
    email = normalize_email(email)
    validate_password(password)
    if len(name.strip()) > 200:
        raise ValidationFailed.field("name", "is longer than 200 characters")
    if await get_user_by_email(session, email):
        raise Conflict(
            _EMAIL_TAKEN, errors=[{"field": "email", "message": "is already registered"}]
        )
    user = User(
        email=email,
        email_normalized=email.lower(),
        name=name.strip(),
        password_hash=hash_password(password, settings.bcrypt_rounds),
    )
    async with unique_or_conflict(session, "email", _EMAIL_TAKEN):
        session.add(user)
        await session.flush()
    audit.record(
        session,
        caller=caller or Caller.for_user(user),
        action="user.create",
        object_type="user",
        object_id=user.id,
        org_id=None,
        after={"email": user.email, "name": user.name},
    )
    return user


async def change_password(
    session: AsyncSession,
    *,
    settings: Settings,
    throttle: Throttle,
    user: User,
    current: str,
    new: str,
    caller: Caller,
) -> None:
    user = await session.get(User, user.id)  # the caller may hold a read-only snapshot
    # Guessing the current password here is throttled like guessing it at login.
    await throttle.check(user.email, caller.client_addr)
    if not verify_password(current, user.password_hash, settings.bcrypt_rounds):
        await throttle.failed(user.email, caller.client_addr)
        raise ValidationFailed.field("current_password", "is not your current password")
    user.password_hash = hash_password(new, settings.bcrypt_rounds)
    # A changed password ends every other login.
    await revoke_all_for_user(session, user.id)
    audit.record(
        session,
        caller=caller,
        action="user.password_change",
        object_type="user",
        object_id=user.id,
        org_id=None,
    )


class Throttle:
    """Login throttling per account and per client address."""

    def __init__(self, counter: Counter, settings: Settings):
        self.counter = counter
        self.settings = settings

    def _keys(self, email: str, addr: str | None) -> list[tuple[str, int]]:
        s = self.settings
        keys = [(f"login:acct:{email.strip().lower()}", s.login_max_failures_per_account)]
        if addr:
            keys.append((f"login:addr:{addr}", s.login_max_failures_per_address))
        return keys

    async def check(self, email: str, addr: str | None) -> None:
        for key, limit in self._keys(email, addr):
            count, retry_after = await self.counter.count(key)
            if count >= limit:
                what = "this account" if ":acct:" in key else "your address"
                raise RateLimited(
                    f"Too many failed logins for {what}; try again in {retry_after} seconds.",
                    retry_after=retry_after,
                )

    async def failed(self, email: str, addr: str | None) -> None:
        for key, _ in self._keys(email, addr):
            await self.counter.hit(key, self.settings.login_window_seconds)

    async def succeeded(self, email: str) -> None:
        await self.counter.reset(f"login:acct:{email.strip().lower()}")


async def authenticate(
    session: AsyncSession, *, throttle: Throttle, email: str, password: str, client_addr: str | None
) -> User:
    await throttle.check(email, client_addr)
    user = await get_user_by_email(session, email)
    ok = verify_password(
        password, user.password_hash if user else None, throttle.settings.bcrypt_rounds
    )
    if not ok or user is None or not user.is_active:
        await throttle.failed(email, client_addr)
        raise Unauthenticated("Email or password is incorrect.")
    await throttle.succeeded(email)
    # Core statement on the connection: bookkeeping, not a change to who may do what, so it
    # does not clear the auth cache.
    conn = await session.connection()
    await conn.execute(sa.update(User).where(User.id == user.id).values(last_login_at=utcnow()))
    return user


@dataclass
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def issue_access_token(settings: Settings, keys: Keys, user: User, family_id: str) -> str:
    return encode_jwt(
        keys.jwt,
        {"sub": user.id, "typ": "access", "fam": family_id},
        timedelta(seconds=settings.access_token_ttl_seconds),
    )


async def _new_refresh(
    session: AsyncSession, settings: Settings, keys: Keys, user_id: str, family_id: str
) -> str:
    token = random_token("rt_")
    session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            token_hash=keyed_hash(keys.refresh, token),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    return token


async def issue_tokens(
    session: AsyncSession, *, settings: Settings, keys: Keys, user: User
) -> TokenPair:
    family = new_id()
    refresh = await _new_refresh(session, settings, keys, user.id, family)
    return TokenPair(
        issue_access_token(settings, keys, user, family), refresh, settings.access_token_ttl_seconds
    )


async def refresh_tokens(
    session: AsyncSession, *, settings: Settings, keys: Keys, refresh_token: str
) -> TokenPair:
    """Rotate: the presented token is spent; presenting a spent one revokes its whole family."""
    row = await session.scalar(
        sa.select(RefreshToken).where(
            RefreshToken.token_hash == keyed_hash(keys.refresh, refresh_token)
        )
    )
    if row is None:
        raise Unauthenticated("The refresh token is invalid; log in again.")
    now = utcnow()
    if row.revoked_at is not None or row.used_at is not None:
        await _revoke_family(session, row.family_id)
        await session.commit()
        raise Unauthenticated(
            "This refresh token was already used; as a precaution every session from that login "
            "has been signed out. Log in again."
        )
    if row.expires_at <= now:
        raise Unauthenticated("The refresh token has expired; log in again.")
    # Compare-and-set so two concurrent refreshes cannot both succeed.
    spent = await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        await _revoke_family(session, row.family_id)
        await session.commit()
        raise Unauthenticated("This refresh token was already used; log in again.")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("This account is disabled.")
    new_refresh = await _new_refresh(session, settings, keys, user.id, row.family_id)
    await session.commit()
    return TokenPair(
        issue_access_token(settings, keys, user, row.family_id),
        new_refresh,
        settings.access_token_ttl_seconds,
    )


async def _revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_refresh_token(session: AsyncSession, *, keys: Keys, refresh_token: str) -> None:
    row = await session.scalar(
        sa.select(RefreshToken).where(
            RefreshToken.token_hash == keyed_hash(keys.refresh, refresh_token)
        )
    )
    if row is not None:
        await _revoke_family(session, row.family_id)


async def revoke_all_for_user(session: AsyncSession, user_id: str) -> None:
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.execute(sa.delete(WebSession).where(WebSession.user_id == user_id))


# --- web sessions -------------------------------------------------------------------------


async def create_web_session(
    session: AsyncSession,
    *,
    settings: Settings,
    keys: Keys,
    user: User,
    client_addr: str | None,
    user_agent: str | None,
) -> str:
    token = random_token("ws_")
    session.add(
        WebSession(
            user_id=user.id,
            token_hash=keyed_hash(keys.session, token),
            expires_at=utcnow() + timedelta(hours=settings.session_ttl_hours),
            client_addr=client_addr,
            user_agent=(user_agent or "")[:300],
        )
    )
    return token


async def user_for_web_session(session: AsyncSession, *, keys: Keys, token: str) -> User | None:
    row = await session.execute(
        sa.select(User, WebSession.expires_at)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.token_hash == keyed_hash(keys.session, token))
    )
    found = row.first()
    if not found or found[1] <= utcnow() or not found[0].is_active:
        return None
    return found[0]


async def end_web_session(session: AsyncSession, *, keys: Keys, token: str) -> None:
    await session.execute(
        sa.delete(WebSession).where(WebSession.token_hash == keyed_hash(keys.session, token))
    )
