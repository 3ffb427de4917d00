"""Request and response bodies of the tenancy API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tenantry.core.secrets import Secret
from tenantry.tenancy.permissions import SCOPES


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SignupIn(BaseModel):
    email: str = Field(max_length=320, examples=["ada@example.com"])
    password: str = Field(description="8 characters to 72 bytes")
    name: str = Field(default="", max_length=200)


class LoginIn(BaseModel):
    email: str = Field(max_length=320)
    password: str


class RefreshIn(BaseModel):
    refresh_token: str


class PasswordChangeIn(BaseModel):
    current_password: str
    new_password: str


class InviteSignupIn(BaseModel):
    password: str
    name: str = Field(default="", max_length=200)


class UserOut(Out):
    id: str
    email: str
    name: str
    created_at: datetime


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class SessionOut(TokensOut):
    user: UserOut


class OrgIn(BaseModel):
    name: str = Field(max_length=200)
    slug: str | None = Field(
        default=None, max_length=63, description="Derived from the name if omitted"
    )


class OrgPatch(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    slug: str | None = Field(default=None, max_length=63)


class OrgOut(Out):
    id: str
    slug: str
    name: str
    created_at: datetime
    deleted_at: datetime | None = None


class MyOrgOut(OrgOut):
    role: str


class OrgAccessOut(BaseModel):
    organization: OrgOut
    actor_type: str
    actor: str
    role: str | None
    scopes: list[str]
    permissions: list[str]


class MeOut(UserOut):
    organizations: list[MyOrgOut]


class MemberOut(BaseModel):
    id: str
    user_id: str
    email: str
    name: str
    role: str
    created_at: datetime


class RoleIn(BaseModel):
    role: str = Field(description="owner, admin, editor or viewer")


class TransferIn(BaseModel):
    member_id: str


class InvitationIn(BaseModel):
    email: str = Field(max_length=320)
    role: str = Field(default="viewer", description="owner, admin, editor or viewer")


class InvitationOut(Out):
    id: str
    email: str
    role: str
    status: str
    expires_at: datetime
    created_at: datetime


class InvitationCreatedOut(InvitationOut):
    link: str = Field(description="The single-use invitation link; shown only now")


class InvitationInfoOut(BaseModel):
    organization: str
    organization_slug: str
    email: str
    role: str
    account_exists: bool


class ApiKeyIn(BaseModel):
    name: str = Field(max_length=200)
    scopes: list[str] = Field(
        default_factory=lambda: ["read"], description=f"Any of {', '.join(SCOPES)}"
    )
    expires_at: datetime | None = Field(default=None, description="Optional expiry (UTC)")


class ApiKeyOut(Out):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The secret key; shown only now, store it safely")


class SecretIn(BaseModel):
    name: str = Field(max_length=100, examples=["WAREHOUSE_PASSWORD"])
    value: Secret = Field(description="Write-only: never returned")
    description: str = Field(default="", max_length=500)


class SecretOut(BaseModel):
    id: str
    name: str
    description: str
    value: str | None = Field(description="Always masked")
    created_at: datetime
    updated_at: datetime


class AuditEventOut(Out):
    id: str
    created_at: datetime
    actor_type: str
    actor_id: str | None
    actor_label: str
    action: str
    object_type: str
    object_id: str | None
    before: dict | None
    after: dict | None
    client_addr: str | None
    request_id: str | None


class PageOut(BaseModel):
    total: int
    page: int
    size: int
    pages: int


class MembersPage(PageOut):
    items: list[MemberOut]


class InvitationsPage(PageOut):
    items: list[InvitationOut]


class ApiKeysPage(PageOut):
    items: list[ApiKeyOut]


class SecretsPage(PageOut):
    items: list[SecretOut]


class AuditPage(PageOut):
    items: list[AuditEventOut]


class MyOrgsPage(PageOut):
    items: list[MyOrgOut]
