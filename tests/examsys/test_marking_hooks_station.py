"""On a station's keyless copy the finalisation hook does not machine-mark (marked centrally later)."""
from examsys.services import marking, marking_hooks, station_package


def test_station_copy_is_not_marked_locally(ctx, monkeypatch):
    calls = []
    monkeypatch.setattr(station_package, "is_station_copy", lambda session_id: True)
    monkeypatch.setattr(marking, "process_finalised", lambda attempt_id: calls.append(attempt_id))

    class _Att:
        session_id = 7

    from examsys.extensions import db
    monkeypatch.setattr(db.session, "get", lambda model, ident: _Att())
    marking_hooks.on_attempt_finalised(1)
    assert calls == []


def test_central_copy_is_marked(ctx, monkeypatch):
    calls = []
    monkeypatch.setattr(station_package, "is_station_copy", lambda session_id: False)
    monkeypatch.setattr(marking, "process_finalised", lambda attempt_id: calls.append(attempt_id))
    from examsys.services import stats_loop
    monkeypatch.setattr(stats_loop, "on_attempt_finalised", lambda attempt_id: None)

    class _Att:
        session_id = 7

    from examsys.extensions import db
    monkeypatch.setattr(db.session, "get", lambda model, ident: _Att())
    marking_hooks.on_attempt_finalised(1)
    assert calls == [1]


def test_mark_session_command_refuses_an_unknown_session(runner):
    result = runner.invoke(args=["marking", "mark-session", "999"])
    assert result.exit_code == 2 and "no exam session 999" in result.output
