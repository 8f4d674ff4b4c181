"""Roster import: ID checksum, all-or-nothing with row errors, encryption at rest, form assignment."""
from __future__ import annotations

import datetime as _dt
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import ExamAttempt, ExamCandidate, ExamSession
from examsys.services import exams as exams_service
from examsys.services import pii
from examsys.services.roster import assign_forms

from . import factories as f
from .conftest import csrf_token, login

T0 = f.T0


# -- ID numbers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,problem", [
    ("11010519491231002X", None),            # the GB 11643 sample
    ("11010519491231002x", None),
    ("110105 19491231 002X", None),
    ("", "required"),
    ("11010519491231002", "length"),
    ("1101051949123100211", "length"),
    ("11010519491231002Y", "characters"),
    ("１１０１０５１９４９１２３１００２Ｘ", "characters"),
    ("110105194913310021", "birth_date"),
    ("110105203012310026", "birth_date"),  # in the future
    ("110105194912310021", "checksum"),
])
def test_id_problem(value, problem):
    assert pii.id_problem(value, today=_dt.date(2026, 1, 1)) == problem


@settings(max_examples=60, deadline=None)
@given(region=st.integers(110000, 659999), days=st.integers(0, 30000), serial=st.integers(0, 999),
       pos=st.integers(0, 17), delta=st.integers(1, 9))
def test_checksum_catches_every_single_digit_error(region, days, serial, pos, delta):
    born = _dt.date(1940, 1, 1) + _dt.timedelta(days=days)
    first17 = f"{region}{born:%Y%m%d}{serial:03d}"
    good = first17 + pii.check_digit(first17)
    assert pii.id_problem(good, today=_dt.date(2030, 1, 1)) is None
    chars = "0123456789X" if pos == 17 else "0123456789"
    wrong = good[:pos] + chars[(chars.index(good[pos]) + delta) % len(chars)] + good[pos + 1:]
    assert pii.id_problem(wrong, today=_dt.date(2030, 1, 1)) is not None


def test_masking_and_encryption(app):
    with app.app_context():
        token = pii.encrypt("11010519491231002X")
        assert "11010519491231002X" not in token and pii.decrypt(token) == "11010519491231002X"
        assert pii.encrypt("11010519491231002X") != token  # random nonce
        assert pii.lookup_hash("11010519491231002x") == pii.lookup_hash("11010519491231002X")
        app.config["PII_KEY"] = "another key"
        with pytest.raises(pii.PiiError):
            pii.decrypt(token)
    assert pii.mask_id("11010519491231002X") == "110105********002X"
    assert pii.mask_text("id 11010519491231002X, 110105194912310021.") == "id 110105********002X, 110105********0021."


def test_dev_fallback_key_when_pii_key_is_unset(app, caplog):
    app.config["PII_KEY"] = None
    with app.app_context():
        token = pii.encrypt("11010519491231002X")
        assert pii.decrypt(token) == "11010519491231002X"


def test_log_records_are_masked(app):
    import logging
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Keep(level=logging.DEBUG)
    app.logger.addHandler(handler)
    was_disabled, app.logger.disabled = app.logger.disabled, False  # alembic's fileConfig may have disabled it
    try:
        pii.install_log_masking(app)
        app.logger.error("candidate %s failed", "11010519491231002X")
    finally:
        app.logger.removeHandler(handler)
        app.logger.disabled = was_disabled
    assert seen == ["candidate 110105********002X failed"]


# -- importing through the station manager's page ------------------------------------------------------

@pytest.fixture
def manager(app, users, station):
    c = clock.FrozenClock(T0 - _dt.timedelta(days=1))
    clock.set_clock(c)
    with app.app_context():
        paper = f.make_paper()
        db.session.commit()
        spec = exams_service.SessionSpec(name="场次", station_id=station.id, paper_id=paper.id,
                                         form_labels=["A", "B"], form_assignment="alternate", starts_at=T0,
                                         duration_min=60)
        from examsys.models import User
        sess = exams_service.create_session(spec, db.session.get(User, users["station_manager"].id))
        sid = sess.id
    client = app.test_client()
    login(client, "station_manager")
    return client, sid, c


def upload(client, sid, name, data):
    token = csrf_token(client, f"/exams/{sid}")
    return client.post(f"/exams/{sid}/roster", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def candidates(app, sid):
    with app.app_context():
        return list(db.session.execute(select(ExamCandidate).where(ExamCandidate.session_id == sid)
                                       .order_by(ExamCandidate.row_number)).scalars())


def test_csv_import_encrypts_ids_and_prepares_attempts(app, manager):
    client, sid, _ = manager
    rows = f.candidate_rows(4)
    r = upload(client, sid, "名单.csv", f.roster_csv(rows))
    assert r.status_code == 302
    html = client.get(f"/exams/{sid}").get_data(as_text=True)
    for ticket, name, idno, seat in rows:
        assert ticket in html and name in html and pii.mask_id(idno) in html and idno not in html
    with app.app_context():
        cs = list(db.session.execute(select(ExamCandidate).where(ExamCandidate.session_id == sid)).scalars())
        for c, (ticket, name, idno, seat) in zip(sorted(cs, key=lambda c: c.ticket_no), rows):
            assert idno not in c.id_cipher and pii.decrypt(c.id_cipher) == idno
            assert c.id_hmac == pii.lookup_hash(idno) and c.id_masked == pii.mask_id(idno)
        atts = list(db.session.execute(select(ExamAttempt).where(ExamAttempt.session_id == sid)).scalars())
        assert len(atts) == 4 and all(a.layout["sections"] and a.status == "not_started" for a in atts)
        by_seat = {c.seat: c.form_label for c in cs}
        assert [by_seat[s] for s in ("01", "02", "03", "04")] == ["A", "B", "A", "B"]
    export = client.get(f"/exams/{sid}/roster.csv").get_data(as_text=True)
    assert all(pii.mask_id(r[2]) in export and r[2] not in export for r in rows)


def test_xlsx_and_gb18030_csv(app, manager):
    import openpyxl
    client, sid, _ = manager
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["座位号", "姓名", "准考证号", "身份证号"])
    for ticket, name, idno, seat in f.candidate_rows(3):
        ws.append([int(seat), name, ticket, idno])
    buf = io.BytesIO()
    wb.save(buf)
    assert upload(client, sid, "roster.xlsx", buf.getvalue()).status_code == 302
    assert [c.seat for c in candidates(app, sid)] == ["1", "2", "3"]
    text = "准考证号,姓名,身份证号\n" + "\n".join(f"{t},{n},{i}" for t, n, i, _ in f.candidate_rows(2, start=10))
    assert upload(client, sid, "roster.csv", text.encode("gb18030")).status_code == 302
    assert [c.name for c in candidates(app, sid)] == ["考生10", "考生11"]  # replaced


def test_bad_rows_report_every_problem_and_change_nothing(app, manager):
    client, sid, _ = manager
    assert upload(client, sid, "ok.csv", f.roster_csv(f.candidate_rows(2))).status_code == 302
    good = f.id_number(7)
    bad_checksum = good[:-1] + ("0" if good[-1] != "0" else "1")
    rows = [("2026000101", "甲", good, "1"),
            ("2026000101", "乙", f.id_number(8), "2"),      # duplicate ticket
            ("2026000103", "", f.id_number(9), "3"),        # empty name
            ("2026000104", "丁", bad_checksum, "4"),       # checksum
            ("2026000105", "戊", good, "5"),                # duplicate ID
            ("x", "己", f.id_number(11), "6"),              # bad ticket
            ("2026000107", "庚", "12345", "6")]             # short ID, duplicate seat
    r = upload(client, sid, "bad.csv", f.roster_csv(rows))
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "bad.csv 第 3 行，A 列（准考证号）" in html and "与第 2 行重复" in html
    assert "bad.csv 第 4 行，B 列（姓名）" in html
    assert "bad.csv 第 5 行，C 列（身份证号）" in html and "校验码错误" in html
    assert "bad.csv 第 6 行，C 列（身份证号）" in html
    assert "bad.csv 第 7 行，A 列（准考证号）" in html
    assert "bad.csv 第 8 行，C 列（身份证号）" in html and "第 8 行，D 列（座位号）" in html
    assert bad_checksum not in html and good not in html and pii.mask_id(bad_checksum) in html
    assert [c.name for c in candidates(app, sid)] == ["考生1", "考生2"]  # the previous roster stands


@pytest.mark.parametrize("name,data,message", [
    ("roster.txt", b"x", "请上传 .xlsx 或 .csv 文件"),
    ("roster.xlsx", b"not a zip", "不是可读取的 .xlsx 工作簿"),
    ("roster.csv", b"", "文件为空"),
    ("roster.csv", "姓名,身份证号\n张三,11010519491231002X\n".encode(), "表头缺少“准考证号”列"),
    ("roster.csv", "准考证号,姓名,身份证号\n".encode(), "文件中没有考生"),
    ("roster.csv", b"\x00\x01\x02", "不是文本文件"),
])
def test_unusable_files(app, manager, name, data, message):
    client, sid, _ = manager
    r = upload(client, sid, name, data)
    assert r.status_code == 422 and message in r.get_data(as_text=True)
    assert candidates(app, sid) == []


def test_ticket_numbers_are_unique_across_sessions_and_roster_frozen_after_start(app, manager, users, station):
    client, sid, c = manager
    with app.app_context():
        other = f.make_session(n_candidates=2, station_id=station.id, starts_at=T0 + _dt.timedelta(days=2),
                               prefix="2026")
    r = upload(client, sid, "dup.csv", f.roster_csv(f.candidate_rows(1)))
    assert r.status_code == 422 and "已在其他场次中使用" in r.get_data(as_text=True)
    assert upload(client, sid, "ok.csv", f.roster_csv(f.candidate_rows(2, start=50))).status_code == 302
    c.current = T0 + _dt.timedelta(seconds=1)
    with app.app_context():
        assert exams_service.maybe_autostart(db.session.get(ExamSession, sid))
    login(client, "station_manager")  # a day later: the staff session has expired
    r = upload(client, sid, "late.csv", f.roster_csv(f.candidate_rows(2, start=70)))
    assert r.status_code == 409 and len(candidates(app, sid)) == 2
    assert other["session_id"] != sid


def test_random_assignment_is_balanced_and_seeded():
    rows = [{"row": i + 2, "seat": str(i + 1)} for i in range(9)]
    a = assign_forms(rows, ["A", "B", "C"], "random", np.random.default_rng(1))
    b = assign_forms(rows, ["A", "B", "C"], "random", np.random.default_rng(1))
    assert a == b and sorted(a.count(x) for x in "ABC") == [3, 3, 3]
    alt = assign_forms([{"row": 2, "seat": "10"}, {"row": 3, "seat": "2"}, {"row": 4, "seat": "1"}], ["A", "B"],
                       "alternate", np.random.default_rng(1))
    assert alt == ["A", "B", "A"]  # seats 1, 2, 10 in natural order get A, B, A


def test_other_station_manager_cannot_import(app, manager, make_user):
    from examsys.models import Station
    client, sid, _ = manager
    with app.app_context():
        st2 = Station(code="T-002", name="另一个站", region="")
        db.session.add(st2)
        db.session.commit()
        st2_id = st2.id
    make_user("manager2", "station_manager", station=st2_id)
    other = app.test_client()
    login(other, "manager2")
    token = csrf_token(other, "/")
    r = other.post(f"/exams/{sid}/roster", data={"csrf_token": token,
                                                 "file": (io.BytesIO(f.roster_csv(f.candidate_rows(1))), "r.csv")},
                   content_type="multipart/form-data")
    assert r.status_code == 404
    with app.app_context():
        assert db.session.execute(select(func.count(ExamCandidate.id))).scalar_one() == 0
