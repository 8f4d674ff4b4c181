"""Candidate views and the exam JSON API.

Pages: ``/exam/login`` (public), ``/exam/`` (where to go next), ``/exam/confirm`` (核对信息), ``/exam/paper``
(waiting room before the start, the paper, or the handed-in page), ``/exam/media/<sha256>`` (an image of an
item in the candidate's own paper only).

JSON (all POST, CSRF header ``X-CSRFToken``, own attempt only — another id answers 404):
``/api/exam/attempts/<id>/answers`` ``{"item": int, "seq": int, "answer": ..., "flagged": bool}``,
``/api/exam/attempts/<id>/heartbeat`` ``{"events": [{"kind": "focus_loss"|"visibility_hidden"|"paste", ...}]}``,
``/api/exam/attempts/<id>/submit`` ``{"confirm": true}`` or ``{"time_up": true}``. Every reply carries
``status``, ``paused``, ``deadline``, ``server_now`` and ``remaining_ms``; refusals carry ``error`` and ``message``.
"""
from __future__ import annotations

import json
import re

from flask import (Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, send_file,
                   session, url_for)
from flask_babel import get_locale
from flask_babel import gettext as _
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from ..access import candidate_required, public
from ..extensions import db
from ..models.exams import FINAL_STATUSES
from ..services import attempts, sessions
from ..services.exams import ExamError
from ..template_helpers import grade_name, local_time
from . import paper_html, slotted_pages
from .forms import CandidateLoginForm, ConfirmForm

bp = Blueprint("delivery", __name__)
SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@bp.record_once
def _setup(state):
    from ..services import pii, sweeper
    pii.install_log_masking(state.app)
    sweeper.install(state.app)


@bp.before_request
def load_candidate():
    g.no_store = True
    g.exam_snapshot = None
    if request.path.startswith("/api/exam/"):
        request.max_content_length = current_app.config.get("EXAM_MAX_REQUEST_BYTES", 64 * 1024)
        if request.path.endswith("/submit"):  # PostgreSQL: a plain hand-in in one statement, else below
            reply = _fast_hand_in()
            if reply is not None:
                return reply
        # one statement: the login session and its attempt (locked FOR SHARE for a save)
        saving = request.path.endswith("/answers")  # (PostgreSQL: a save reads and writes autocommitted)
        g.exam_snapshot = attempts.api_context(sessions.token_digest(), lock=saving, autocommit=saving)
        g.candidate_attempt_id = g.exam_snapshot.id if g.exam_snapshot is not None else None
        return
    # pages: one statement too — the login session with what the candidate's pages show of the attempt
    layout = request.path in ("/exam/paper", "/exam/confirm") or request.path.startswith("/exam/media/")
    # (the confirmation at the start of a sitting reads outside a transaction on PostgreSQL: attempts.confirm_view)
    g.exam_view = attempts.page_context(sessions.token_digest(), layout=layout,
                                        autocommit=request.method == "POST" and request.path == "/exam/confirm")
    g.candidate_attempt_id = g.exam_view.att.id if g.exam_view is not None else None


def _fast_hand_in():
    """The deadline burst's hand-in (``{"confirm": true}``), answered here when :func:`attempts.fast_hand_in`
    applies; ``None`` lets the request go the general way (which also answers every refusal)."""
    try:
        data = read_json_object()
    except ExamError:
        return None
    if data.get("confirm") is not True or data.get("time_up") is True:
        return None
    reply = attempts.fast_hand_in(sessions.token_digest(), (request.view_args or {}).get("attempt_id"))
    return jsonify(reply) if reply is not None else None


def _attempt():
    att = attempts.attempt_for_page(g.candidate_attempt_id)
    if att is None:  # pragma: no cover - the session points at a deleted attempt
        sessions.end_current_session()
        return None
    return att


def _error(e: ExamError):
    body = {"ok": False, "error": e.code, "message": e.message}
    if getattr(e, "state", None):
        body.update(e.state)
    return jsonify(body), e.status


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def read_json_object() -> dict:
    """The request body as a JSON object, strictly: no NaN/Infinity, no nesting deep enough to exhaust the
    parser, size within the request limit; otherwise :class:`ExamError` (400 / 413)."""
    if request.max_content_length is not None and request.content_length is not None \
            and request.content_length > request.max_content_length:
        raise ExamError(_("The request is too large; nothing was saved."), status=413, code="too_large")
    try:
        data = json.loads(request.get_data(cache=True), parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise ExamError(_("The request is not a JSON object."), status=400, code="bad_json")
    return data


_body = read_json_object


def _own(attempt_id: int):
    if attempt_id != g.candidate_attempt_id:
        raise ExamError(_("This answer sheet does not exist."), status=404, code="not_found")


# -- pages -----------------------------------------------------------------------------------------

LOGIN_MESSAGES = {
    attempts.LOGIN_FAILED: (lambda: _("Wrong admission ticket number or ID digits / login code."), 401),
    attempts.LOGIN_LOCKED: (lambda: _("Too many failed attempts for this ticket. Ask the proctor to unlock it."), 429),
    attempts.NOT_OPEN: (lambda: _("Login for this exam is not open yet."), 403),
    attempts.TOO_LATE: (lambda: _("The late-entry time of this exam has passed. Please contact the proctor."), 403),
    attempts.SECOND_LOGIN: (lambda: _("This ticket is already logged in on another computer. "
                                      "Ask the proctor to unlock it."), 409),
    attempts.CLOSED: (lambda: _("This exam session has ended."), 403),
}


@bp.route("/exam/login", methods=["GET", "POST"])
@public
def login():
    if request.method == "GET" and g.candidate_attempt_id is not None:
        return redirect(url_for("delivery.home"))
    if request.method == "GET" and "_flashes" not in session:
        return _plain_login_page()
    form = CandidateLoginForm()
    status = 200
    opens_at = None
    if form.validate_on_submit():
        outcome = attempts.candidate_login(form.ticket.data, form.credential.data, request.remote_addr or "")
        if outcome.attempt_id is not None:
            g.candidate_attempt_id, g.exam_view = outcome.attempt_id, outcome.view  # (not the old cookie's)
            return _confirm_page()
        message, status = LOGIN_MESSAGES[outcome.error]
        flash(message(), "error")
        opens_at = outcome.opens_at
    elif request.method == "POST":
        status = 400
    return render_template("delivery/login.html", form=form, opens_at=opens_at), status


def _plain_login_page() -> str:
    """The login page with nothing to report. It is the same for every candidate but for the CSRF token, and
    at the start of a sitting every candidate of the room opens it within seconds: a slotted page."""
    return slotted_pages.render("delivery/login.html", {}, fixed=_empty_login_form, opens_at=None)


def _empty_login_form() -> dict:
    return {"form": CandidateLoginForm(formdata=None)}


@bp.route("/exam/logout", methods=["POST"])
@candidate_required
def logout():
    attempts.logout()
    return redirect(url_for("delivery.login"))


@bp.route("/exam/")
@candidate_required
def home():
    view = g.exam_view
    if view.att.confirmed_at is None:
        return redirect(url_for("delivery.confirm"))
    return redirect(url_for("delivery.paper"))


# A successful login answers with the 核对信息 page, and the confirmation with the paper (or the waiting room),
# instead of a redirect and a GET: one request fewer per step at the start of a sitting, when every candidate
# of a room arrives within seconds. Each such page replaces its history entry's URL with the page's own
# (``replace_url``, history.replaceState), so a reload or a bookmark GETs /exam/confirm or /exam/paper and
# never posts the form again.

@bp.route("/exam/confirm", methods=["GET", "POST"])
@candidate_required
def confirm():
    form = ConfirmForm()
    if form.validate_on_submit():
        if not attempts.confirm_view(g.exam_view):  # not the start of a sitting: read the attempt again
            g.exam_view = None
        return _paper_page(replace=True)
    return _confirm_page(400 if request.method == "POST" else 200)


def _confirm_page(status: int = 200):
    view = g.get("exam_view") or attempts.page_view(g.candidate_attempt_id)
    if view is None:  # pragma: no cover - the session points at a deleted attempt
        sessions.end_current_session()
        return redirect(url_for("delivery.login"))
    cand, sess = view.cand, view.sess
    occ = sess.occupation
    occupation = f"{occ.name}（{occ.work_type}） · " if occ.work_type else f"{occ.name} · "
    return slotted_pages.render("delivery/confirm.html", {
        **_who(cand), "id_masked": cand.id_masked, "session": sess.name,
        "occupation": occupation + grade_name(sess.grade), "duration": sess.duration_min,
        "start": local_time(sess.started_at or sess.starts_at, "%Y-%m-%d %H:%M"),
    }, replace_url=url_for("delivery.confirm") if request.method == "POST" else None), status


def _who(cand) -> dict:
    return {"name": cand.name, "ticket_no": cand.ticket_no, "seat": cand.seat or "—"}


def _json(data: dict) -> Markup:
    """``data`` as the ``tojson`` filter writes it into a ``<script>`` element."""
    return htmlsafe_json_dumps(data, dumps=current_app.json.dumps)


@bp.route("/exam/paper")
@candidate_required
def paper():
    return _paper_page(replace=False)


def _paper_page(*, replace: bool):
    view = g.get("exam_view") or attempts.page_view(g.candidate_attempt_id, layout=True)
    if view is None:  # pragma: no cover - the session points at a deleted attempt
        sessions.end_current_session()
        return redirect(url_for("delivery.login"))
    att, cand, sess = view.att, view.cand, view.sess
    if att.confirmed_at is None:
        return redirect(url_for("delivery.confirm"))
    replace_url = url_for("delivery.paper") if replace else None
    state = attempts.state(att, sess)
    if att.status in FINAL_STATUSES:
        att = _attempt()  # the handed-in page (rare): the ORM attempt
        return render_template("delivery/done.html", att=att, cand=att.candidate, sess=att.session, state=state,
                               replace_url=replace_url)
    if sess.started_at is None or att.status != "in_progress":
        # before the start; or started but not entered yet: the page's first heartbeat (a POST) enters
        return slotted_pages.render("delivery/waiting.html", {
            **_who(cand), "starts": local_time(sess.starts_at, "%H:%M"), "data": _json({
                "mode": "waiting", "attempt": att.id, "state": state, "heartbeat_ms": _heartbeat_ms(),
                "urls": {"heartbeat": url_for("delivery.heartbeat", attempt_id=att.id),
                         "paper": url_for("delivery.paper")},
                "strings": _waiting_strings()})}, replace_url=replace_url)
    data = attempts.paper(att)
    nav_html, questions_html = paper_html.render(data, _paper_labels(), _type_names(data),
                                                 lambda sha: url_for("delivery.media", sha=sha))
    config = current_app.config
    return slotted_pages.render("delivery/paper.html", {
        **_who(cand), "session": sess.name, "attempt": att.id, "nav": nav_html, "questions": questions_html,
        "data": _json({
            "mode": "paper", "attempt": att.id, "seq_base": attempts.seq_base(att, data["max_seq"]), "state": state,
            "heartbeat_ms": _heartbeat_ms(), "debounce_ms": config.get("EXAM_DEBOUNCE_MS", 700),
            "urls": {"save": url_for("delivery.save", attempt_id=att.id),
                     "heartbeat": url_for("delivery.heartbeat", attempt_id=att.id),
                     "submit": url_for("delivery.submit", attempt_id=att.id), "paper": url_for("delivery.paper")},
            "strings": _exam_strings()})}, replace_url=replace_url)


def _heartbeat_ms() -> int:
    return current_app.config.get("EXAM_HEARTBEAT_MS", 4000)


# Translated texts of the candidate's pages, built once per language and process: a paper page used to call
# gettext ~50 times (~1.5 ms of CPU per page at the start of a sitting).
_TEXTS: dict[tuple[str, str], dict] = {}


def _texts(kind: str, build) -> dict:
    key = (str(get_locale()), kind)
    out = _TEXTS.get(key)
    if out is None:
        out = _TEXTS[key] = build()
    return out


def _paper_labels() -> dict:
    return _texts("labels", lambda: {
        "question": _("Question %(n)s", n="{n}"), "points": _("(%(p)s points)", p="{p}"),
        "saved": _("Saved %(time)s", time="{t}"), "figure": _("Figure"), "true": _("True (√)"),
        "false": _("False (×)"), "answer": _("Your answer"), "mark": _("Mark for review"),
        "prev": _("Previous question"), "next": _("Next question")})


def _type_names(data: dict) -> dict:
    from ..template_helpers import type_name
    kinds = {sec["name"] for sec in data["sections"]} | {q["type"] for sec in data["sections"] for q in sec["questions"]}
    return {k: type_name(k) for k in kinds}


def _waiting_strings() -> dict:
    """The messages exam.js shows on the waiting page."""
    return _texts("waiting", lambda: {
        "offline": _("No connection to the exam server. Retrying…"), "online": _("Connected"),
        "ended": _("Your login has ended. Please ask the proctor.")})


def _exam_strings() -> dict:
    """The messages exam.js shows on the paper page (placeholders in braces are filled in by the page)."""
    return _texts("exam", lambda: {
        "saving": _("Saving…"), "saved": _("Saved %(time)s", time="{t}"), "unsaved": _("Not saved yet"),
        "retrying": _("Not saved — retrying"), "offline": _("No connection to the exam server. Retrying…"),
        "online": _("Connected"),
        "queue_alert": _("Saving failed: %(n)s answer(s) are not saved yet. They are kept on this page and sent "
                         "again automatically. Do not close or reload this page.", n="{n}"),
        "paused": _("The exam is paused by the proctor. Please wait."),
        "time_up": _("Time is up. Your answers are being handed in…"),
        "ended": _("Your login has ended (the paper was opened on another computer, or the proctor unlocked it). "
                   "Please ask the proctor."),
        "done": _("Your paper has been handed in."), "continue": _("Continue"),
        "lost": _("These answers could not be saved before the end: %(list)s", list="{list}"),
        "wait_saving": _("Some answers are still being saved. Please wait until every question shows “Saved”."),
        "unanswered": _("Unanswered questions: %(list)s", list="{list}"),
        "all_answered": _("You have answered every question."),
        "flagged": _("Marked for review: %(list)s", list="{list}"),
        "reload": _("The page has expired. Reload the page (your saved answers are kept)."),
        "submit_failed": _("Handing in failed: %(message)s", message="{message}"),
        "larger": _("Larger text"), "normal": _("Normal text")})


@bp.route("/exam/media/<sha>")
@candidate_required
def media(sha: str):
    from ..models import MediaFile
    from ..services import media as media_service
    if not SHA_RE.match(sha) or sha not in attempts.attempt_images(g.exam_view.att):
        return render_template("errors/error.html", code=404, message=_("The page or record was not found.")), 404
    row = db.session.get(MediaFile, sha)
    path = media_service.path_for(sha)
    if row is None or not path.is_file():
        return render_template("errors/error.html", code=404, message=_("The page or record was not found.")), 404
    return send_file(path, mimetype=row.mime, max_age=0)


# -- JSON API --------------------------------------------------------------------------------------

@bp.route("/api/exam/attempts/<int:attempt_id>/answers", methods=["POST"])
@candidate_required
def save(attempt_id: int):
    try:
        _own(attempt_id)
        data = _body()
        if "attempt" in data and data["attempt"] != attempt_id:
            raise ExamError(_("This answer sheet does not exist."), status=404, code="not_found")
        return jsonify(attempts.save_answer(attempt_id, data.get("item"), data.get("seq"), data.get("answer"),
                                            data.get("flagged", False), snap=g.exam_snapshot))
    except ExamError as e:
        return _error(e)


@bp.route("/api/exam/attempts/<int:attempt_id>/heartbeat", methods=["POST"])
@candidate_required
def heartbeat(attempt_id: int):
    try:
        _own(attempt_id)
        data = _body()
        events = data.get("events") if isinstance(data.get("events"), list) else []
        return jsonify({"ok": True, **attempts.heartbeat(attempt_id, events, snap=g.exam_snapshot)})
    except ExamError as e:
        return _error(e)


@bp.route("/api/exam/attempts/<int:attempt_id>/submit", methods=["POST"])
@candidate_required
def submit(attempt_id: int):
    try:
        _own(attempt_id)
        data = _body()
        time_up = data.get("time_up") is True
        if not time_up and data.get("confirm") is not True:
            raise ExamError(_("Confirm that you want to hand in."), status=422, code="confirm_required")
        return jsonify(attempts.submit(attempt_id, time_up=time_up, snap=g.exam_snapshot))
    except ExamError as e:
        return _error(e)
