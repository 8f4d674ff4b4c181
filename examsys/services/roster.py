"""Roster import (考生名单) and pre-created attempts.

A roster is an ``.xlsx`` or ``.csv`` file with a header row and one candidate per row. Columns (in any
order; Chinese or English headers): ``准考证号``/``ticket_no``, ``姓名``/``name``, ``身份证号``/``id_number``,
``座位号``/``seat`` (optional). The import is all-or-nothing (DESIGN.md decision 6): every problem is reported
with its file, row, column and field; ID numbers are never echoed back (only masked).

On success the session's roster is replaced: each candidate gets a paper form (alternately by seat or at
random, balanced), an encrypted ID number with its lookup HMAC and masked form, a printed one-time login
code, and an attempt with its seeded layout, so the start of the exam only renders pages.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from dataclasses import dataclass

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import delete, select

from question_bank.layout import CHOICE_TYPES, build_layout

from .. import clock
from ..extensions import db
from ..models import AttemptEvent, ExamAttempt, ExamCandidate, ExamResponse, ExamSession, PaperForm, PaperItem
from ..models.exams import SCHEDULED
from . import audit, pii, sessions
from .exams import ExamError

HEADERS = {
    "ticket_no": ("准考证号", "准考证", "ticket_no", "ticket", "admission_no", "admission number"),
    "name": ("姓名", "考生姓名", "name"),
    "id_number": ("身份证号", "身份证号码", "证件号码", "id_number", "id_no", "id number"),
    "seat": ("座位号", "座号", "座位", "机位号", "seat"),
}
REQUIRED = ("ticket_no", "name", "id_number")
MAX_ROWS = 5000
TICKET_RE = re.compile(r"^[0-9A-Za-z-]{4,32}$")
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8


@dataclass
class RosterProblem:
    file: str
    row: int
    column: str
    field: str
    message: str

    def __str__(self) -> str:
        where = _("%(file)s, row %(row)s", file=self.file, row=self.row)
        if self.column:
            where += _(", column %(column)s (%(field)s)", column=self.column, field=self.field)
        return f"{where}: {self.message}"


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def read_rows(filename: str, data: bytes) -> list[list[str]]:
    """Rows of cells (strings) from an .xlsx or .csv file; raises :class:`ExamError` (422) when unreadable."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        import openpyxl
        try:
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:
            raise ExamError(_("%(file)s is not a readable .xlsx workbook.", file=filename), status=422,
                            code="unreadable") from None
        try:
            ws = wb.worksheets[0]
            rows = []
            for r in ws.iter_rows(values_only=True):
                rows.append([_cell(v) for v in r])
                if len(rows) > MAX_ROWS + 1:
                    break
            return rows
        finally:
            wb.close()
    if lower.endswith(".csv"):
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:  # pragma: no cover - gb18030 decodes nearly anything
            raise ExamError(_("%(file)s is not UTF-8 or GB18030 text.", file=filename), status=422, code="unreadable")
        if "\x00" in text:
            raise ExamError(_("%(file)s is not a text file.", file=filename), status=422, code="unreadable")
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
    raise ExamError(_("Upload an .xlsx or .csv file."), status=422, code="format")


def parse_roster(filename: str, data: bytes) -> tuple[list[dict], list[RosterProblem]]:
    """Rows as dicts (``ticket_no``, ``name``, ``id_number``, ``seat``, ``row``) and every problem found."""
    rows = read_rows(filename, data)
    problems: list[RosterProblem] = []
    while rows and not any(rows[-1]):
        rows.pop()
    if not rows:
        return [], [RosterProblem(filename, 1, "", "", _("The file is empty."))]
    header = [h.strip().lower() for h in rows[0]]
    cols: dict[str, int] = {}
    for i, h in enumerate(header):
        for key, names in HEADERS.items():
            if h in {n.lower() for n in names} and key not in cols:
                cols[key] = i
    names = {"ticket_no": "准考证号", "name": "姓名", "id_number": "身份证号", "seat": "座位号"}
    for key in REQUIRED:
        if key not in cols:
            problems.append(RosterProblem(filename, 1, "", names[key],
                                          _("The header row has no column %(name)s.", name=names[key])))
    if problems:
        return [], problems
    body = rows[1:]
    if len(body) > MAX_ROWS:
        return [], [RosterProblem(filename, MAX_ROWS + 2, "", "",
                                  _("A roster holds at most %(n)s candidates.", n=MAX_ROWS))]
    out: list[dict] = []
    seen_ticket: dict[str, int] = {}
    seen_id: dict[str, int] = {}
    seen_seat: dict[str, int] = {}
    for n, raw in enumerate(body, start=2):
        if not any(raw):
            continue

        def get(key):
            i = cols.get(key)
            return raw[i] if i is not None and i < len(raw) else ""

        def problem(key, message):
            problems.append(RosterProblem(filename, n, _col_letter(cols[key]), names[key], message))

        ticket, name, idno, seat = get("ticket_no"), get("name"), pii.normalise_id(get("id_number")), get("seat")
        if not ticket:
            problem("ticket_no", _("The admission number is empty."))
        elif not TICKET_RE.match(ticket):
            problem("ticket_no", _("An admission number has 4 to 32 letters, digits or hyphens."))
        elif ticket.upper() in seen_ticket:
            problem("ticket_no", _("The admission number %(no)s is also in row %(row)s.", no=ticket,
                                   row=seen_ticket[ticket.upper()]))
        else:
            seen_ticket[ticket.upper()] = n
        if not name:
            problem("name", _("The name is empty."))
        elif len(name) > 50:
            problem("name", _("The name is longer than 50 characters."))
        code = pii.id_problem(idno)
        if code is not None:
            msg = {
                "required": _("The ID number is empty."),
                "length": _("An ID number has 18 characters (this one has %(n)s).", n=len(idno)),
                "characters": _("An ID number is 17 digits followed by a digit or X."),
                "birth_date": _("The date of birth in the ID number is not a valid date."),
                "checksum": _("The check digit of the ID number %(masked)s is wrong.", masked=pii.mask_id(idno)),
            }[code]
            problem("id_number", msg)
        elif idno in seen_id:
            problem("id_number", _("The ID number %(masked)s is also in row %(row)s.", masked=pii.mask_id(idno),
                                   row=seen_id[idno]))
        else:
            seen_id[idno] = n
        if seat:
            if "seat" in cols and len(seat) > 16:
                problem("seat", _("The seat is longer than 16 characters."))
            elif seat in seen_seat:
                problem("seat", _("Seat %(seat)s is also in row %(row)s.", seat=seat, row=seen_seat[seat]))
            else:
                seen_seat[seat] = n
        out.append({"row": n, "ticket_no": ticket.upper(), "name": name, "id_number": idno, "seat": seat})
    if not out and not problems:
        problems.append(RosterProblem(filename, 2, "", "", _("The file has no candidates.")))
    return out, problems


def _seat_key(seat: str, row: int):
    parts = re.split(r"(\d+)", seat or "")
    return (0 if seat else 1, [(0, int(p)) if p.isdigit() else (1, p) for p in parts if p], row)


def assign_forms(rows: list[dict], labels: list[str], mode: str, rng: np.random.Generator) -> list[str]:
    """Forms per row: ``alternate`` = A, B, A, B … in seat order (neighbours differ); ``random`` = a seeded
    balanced random assignment."""
    k = len(labels)
    if mode == "random":
        order = [int(i) for i in rng.permutation(len(rows))]
    else:
        order = sorted(range(len(rows)), key=lambda i: _seat_key(rows[i]["seat"], rows[i]["row"]))
    out = [""] * len(rows)
    for pos, i in enumerate(order):
        out[i] = labels[pos % k]
    return out


def new_login_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def form_slots(form_id: int) -> list[dict]:
    """The slots of a form as plain dicts for :func:`question_bank.layout.build_layout`."""
    from ..models import ItemVersion
    rows = db.session.execute(
        select(PaperItem.id, PaperItem.section, ItemVersion.type, ItemVersion.content, ItemVersion.id)
        .join(ItemVersion, ItemVersion.id == PaperItem.item_version_id)
        .where(PaperItem.form_id == form_id).order_by(PaperItem.position)).all()
    return [{"pi": pi, "section": section, "type": t, "iv": iv,
             "n_options": len((content or {}).get("options") or []) if t in CHOICE_TYPES else 0}
            for pi, section, t, content, iv in rows]


def import_roster(sess: ExamSession, filename: str, data: bytes, actor) -> int:
    """Replace the roster of ``sess`` with the file's candidates (all or nothing). Returns the number
    imported; raises :class:`ExamError` (422, ``problems`` = list of :class:`RosterProblem`) and changes
    nothing when any row is wrong."""
    if sess.status != SCHEDULED:
        raise ExamError(_("The session has started; its roster can no longer be changed."), status=409)
    rows, problems = parse_roster(filename, data)
    if not problems:
        tickets = [r["ticket_no"] for r in rows]
        taken = {}
        for chunk in range(0, len(tickets), 500):
            for t, sid in db.session.execute(select(ExamCandidate.ticket_no, ExamCandidate.session_id)
                                             .where(ExamCandidate.ticket_no.in_(tickets[chunk:chunk + 500]),
                                                    ExamCandidate.session_id != sess.id)):
                taken[t] = sid
        for r in rows:
            if r["ticket_no"] in taken:
                problems.append(RosterProblem(filename, r["row"], "", "准考证号",
                                              _("The admission number %(no)s is already used in another session.",
                                                no=r["ticket_no"])))
    forms = {f.label: f for f in db.session.execute(
        select(PaperForm).where(PaperForm.paper_id == sess.paper_id)).scalars()}
    missing = [label for label in sess.form_labels if label not in forms]
    if missing:
        raise ExamError(_("The paper has no form %(label)s.", label=missing[0]), status=422)
    if problems:
        raise ExamError(_("The roster was not imported: %(n)s problem(s).", n=len(problems)), status=422,
                        code="invalid", problems=problems)
    slots = {label: form_slots(forms[label].id) for label in sess.form_labels}
    rng = np.random.default_rng([int(sess.seed) & 0xFFFFFFFFFFFFFFFF, 1])
    labels = assign_forms(rows, list(sess.form_labels), sess.form_assignment, rng)
    attempt_seeds = rng.integers(0, 2 ** 62, size=len(rows))
    try:
        layouts = [build_layout(slots[labels[i]], np.random.default_rng(int(attempt_seeds[i])))
                   for i in range(len(rows))]
    except ValueError as e:
        raise ExamError(_("The paper cannot be delivered: %(error)s", error=str(e)), status=422) from None
    _clear_roster(sess.id)
    now = clock.now()
    candidates = []
    for r, label in zip(rows, labels):
        c = ExamCandidate(session_id=sess.id, ticket_no=r["ticket_no"], name=r["name"],
                          id_cipher=pii.encrypt(r["id_number"]), id_hmac=pii.lookup_hash(r["id_number"]),
                          id_masked=pii.mask_id(r["id_number"]), seat=r["seat"], form_label=label,
                          login_code_cipher=pii.encrypt(new_login_code()), row_number=r["row"], created_at=now)
        candidates.append(c)
    db.session.add_all(candidates)
    db.session.flush()
    db.session.add_all([
        ExamAttempt(session_id=sess.id, candidate_id=c.id, paper_form_id=forms[c.form_label].id,
                    seed=int(attempt_seeds[i]), layout=layouts[i], status="not_started", extra_seconds=0,
                    paused_seconds=0)
        for i, c in enumerate(candidates)])
    counts = {label: labels.count(label) for label in sess.form_labels}
    audit.record("exam.roster_import", "exam_session", sess.id, actor=actor,
                 after={"file": filename, "sha256": hashlib.sha256(data).hexdigest(), "candidates": len(rows),
                        "forms": counts})
    db.session.commit()
    return len(rows)


def _clear_roster(session_id: int) -> None:
    attempt_ids = select(ExamAttempt.id).where(ExamAttempt.session_id == session_id)
    db.session.execute(delete(ExamResponse).where(ExamResponse.attempt_id.in_(attempt_ids)))
    db.session.execute(delete(AttemptEvent).where(AttemptEvent.attempt_id.in_(attempt_ids)))
    ids = [a for (a,) in db.session.execute(attempt_ids)]
    for aid in ids:
        sessions.revoke_all(kind="candidate", subject_id=aid)
    db.session.execute(delete(ExamAttempt).where(ExamAttempt.session_id == session_id))
    db.session.execute(delete(ExamCandidate).where(ExamCandidate.session_id == session_id))


def roster(session_id: int) -> list[tuple[ExamCandidate, ExamAttempt]]:
    rows = db.session.execute(select(ExamCandidate, ExamAttempt)
                              .join(ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id)
                              .where(ExamCandidate.session_id == session_id)).all()
    return sorted(((c, a) for c, a in rows), key=lambda ca: _seat_key(ca[0].seat, ca[0].row_number))


def login_code(candidate: ExamCandidate) -> str:
    """The printed one-time code (decrypted for the admission ticket); empty once used."""
    if candidate.login_code_used_at is not None or not candidate.login_code_cipher:
        return ""
    return pii.decrypt(candidate.login_code_cipher)


#: attempt statuses as the roster export names them (the same words as the proctor console)
STATUS_LABELS_ZH = {"not_started": "未开始", "in_progress": "答题中", "submitted": "已交卷", "absent": "缺考"}


def export_csv(session_id: int) -> str:
    """The roster as CSV with masked ID numbers (never the full number); the attempt status in Chinese
    (``状态``) and as its stable code (``状态代码``: not_started, in_progress, submitted, absent) for scripts."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["准考证号", "姓名", "身份证号", "座位号", "试卷", "状态", "状态代码"])
    for c, a in roster(session_id):
        w.writerow([c.ticket_no, _csv_safe(c.name), c.id_masked, c.seat, c.form_label,
                    STATUS_LABELS_ZH.get(a.status, a.status), a.status])
    return "\ufeff" + buf.getvalue()


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in free text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
