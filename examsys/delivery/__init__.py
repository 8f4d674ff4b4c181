"""The candidate blueprint ("delivery"): ticket login (/exam/login), 核对信息, the timed paper, and the JSON
API under /api/exam/attempts/<id>/... (autosave, heartbeat, submit). Every candidate request carries the
server-side candidate session (``services.sessions``, kind="candidate", subject_id = attempt id)."""
