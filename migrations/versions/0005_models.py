"""Models: the weights files tasks write and read (ClearML's models service).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

One row per model, owned by a company like every other table. The fields queried or filtered on
(name, project, task, ready, tags) are columns; the rest of the document the SDK writes and reads back
(uri, framework, comment, design, labels, metadata, parent, last_iteration, ...) is kept as sent in
one JSONB column, as tasks keep their open-ended sections (0002): nothing here queries inside it.
`task` is the id of the task that made the model, not a foreign key: a model outlives its task, as
in ClearML.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TEXT_ARRAY = postgresql.ARRAY(sa.Text())


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("key", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("company_key", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text()),
        sa.Column("project_key", sa.BigInteger()),
        sa.Column("task", sa.Text()),
        sa.Column("ready", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("tags", TEXT_ARRAY, server_default="{}", nullable=False),
        sa.Column("system_tags", TEXT_ARRAY, server_default="{}", nullable=False),
        sa.Column("details", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_update", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["company_key"], ["companies.key"],
                                name=op.f("fk_models_company_key_companies")),
        sa.ForeignKeyConstraint(["project_key"], ["projects.key"],
                                name=op.f("fk_models_project_key_projects"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_models")),
        sa.UniqueConstraint("id", name=op.f("uq_models_id")),
    )
    op.create_index(op.f("ix_models_company_key_task"), "models", ["company_key", "task"])


def downgrade() -> None:
    op.drop_index(op.f("ix_models_company_key_task"), table_name="models")
    op.drop_table("models")
