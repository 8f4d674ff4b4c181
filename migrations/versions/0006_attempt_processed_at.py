"""attempt post-finalisation marker (exam_attempt.processed_at)

A hand-in commits only the finalisation itself; machine marking and the ``attempt.finalise`` audit entry are
done afterwards by ``examsys.services.post_finalise``, which sets ``processed_at``. Attempts finalised before
this revision were marked and audited in the hand-in's request, so they count as processed at their
finalisation time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

UNPROCESSED = "finalised_at IS NOT NULL AND processed_at IS NULL"


def upgrade():
    with op.batch_alter_table('exam_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('processed_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE exam_attempt SET processed_at = finalised_at WHERE finalised_at IS NOT NULL")
    with op.batch_alter_table('exam_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_exam_attempt_unprocessed', ['id'], unique=False,
                              postgresql_where=sa.text(UNPROCESSED), sqlite_where=sa.text(UNPROCESSED))


def downgrade():
    with op.batch_alter_table('exam_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_exam_attempt_unprocessed', postgresql_where=sa.text(UNPROCESSED),
                            sqlite_where=sa.text(UNPROCESSED))
        batch_op.drop_column('processed_at')
