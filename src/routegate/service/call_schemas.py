"""The call gate's response shapes, for the OpenAPI document (the routes answer these as built)."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = [
    "AuthorizedOut",
    "CallSummaryOut",
    "IssuedTokenOut",
    "ReceiptOut",
    "ReceiptPage",
    "TokenList",
    "TokenOut",
    "UpstreamOut",
    "UsageOut",
    "UsagesOut",
]


class TokenOut(BaseModel):
    id: str
    workspace_id: str
    note: str | None
    scope: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class IssuedTokenOut(TokenOut):
    token: str
    """The secret: shown in this answer only."""


class TokenList(BaseModel):
    items: list[TokenOut]


class UpstreamOut(BaseModel):
    vendor: str
    model: str
    base_url: str | None
    provider: str


class AuthorizedOut(BaseModel):
    allowed: bool
    workspace_id: str
    runtime: str
    model: str
    payer: str
    provider: str | None
    required_env: list[str]
    upstream: UpstreamOut | None
    manifest_version: int
    receipt_id: str


class UsageOut(BaseModel):
    prompt_tokens: int | None
    completion_tokens: int | None


class UsagesOut(BaseModel):
    """Where each report of a batch went: its receipt id in one of the lists, once per report."""

    reported: list[str]
    already_reported: list[str]
    not_found: list[str]


class ReceiptOut(BaseModel):
    id: str
    at: str
    workspace_id: str
    token_id: str
    model: str
    allowed: bool
    code: str | None
    payer: str | None
    provider: str | None
    upstream_vendor: str | None
    manifest_version: int
    usage: UsageOut | None
    status: str | None
    reported_at: str | None


class ReceiptPage(BaseModel):
    items: list[ReceiptOut]
    next_cursor: str | None


class PayerProviderOut(BaseModel):
    payer: str | None
    provider: str | None
    calls: int
    prompt_tokens: int
    completion_tokens: int


class CallSummaryOut(BaseModel):
    workspace_id: str | None
    since: str | None
    items: list[PayerProviderOut]
    refused: int
