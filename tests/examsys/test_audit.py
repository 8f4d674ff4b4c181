from examsys.extensions import db
from examsys.models import AuditLog
from examsys.services import audit


def test_chain_verifies_and_detects_tampering(ctx):
    audit.record("item.create", "item", 1, actor_label="writer", after={"stem": "a"})
    audit.record("item.update", "item", 1, actor_label="writer", before={"stem": "a"}, after={"stem": "b"})
    db.session.commit()
    assert audit.verify_chain() == (True, None)
    first = db.session.query(AuditLog).order_by(AuditLog.id).first()
    db.session.execute(AuditLog.__table__.update().where(AuditLog.id == first.id).values(after={"stem": "evil"}))
    db.session.commit()
    db.session.expire_all()
    ok, bad = audit.verify_chain()
    assert not ok and bad == first.id


def test_user_creation_is_audited(app, users):
  with app.app_context():
      rows = audit.entries_for("user", users["writer"].id)
      assert rows and rows[0].action == "user.create" and rows[0].after["role"] == "writer"
