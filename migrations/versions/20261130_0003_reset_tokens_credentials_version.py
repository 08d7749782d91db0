"""Reset tokens record the credentials version they were issued under.

A token is usable only while its user's credentials_version still matches, so every password or
email change and every deactivation ends the tokens issued before it. Tokens already stored get -1,
which matches no user: they were issued before the version was recorded and cannot be trusted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "password_reset_tokens",
        sa.Column("credentials_version", sa.Integer(), nullable=False, server_default="-1"),
    )


def downgrade() -> None:
    op.drop_column("password_reset_tokens", "credentials_version")
