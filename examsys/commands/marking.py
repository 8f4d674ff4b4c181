"""``examsys marking mark-session SESSION_ID``: machine-mark a sitting's finalised attempts in one batch."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


def register(cli) -> None:
    @cli.group("marking")
    def marking_group():
        """Marking of sittings."""

    @marking_group.command("mark-session")
    @click.argument("session_id", type=int)
    @with_appcontext
    def mark_session_command(session_id):
        """Machine-mark every finalised attempt of SESSION_ID (vectorised) and refresh its draft results."""
        from ..models import ExamSession
        from ..extensions import db
        from ..services.marking_hooks import mark_session
        from ..services.station_package import is_station_copy
        if db.session.get(ExamSession, session_id) is None:
            click.echo(f"error: no exam session {session_id}", err=True)
            sys.exit(2)
        if is_station_copy(session_id):
            click.echo("error: this is a station's copy without answer keys; it is marked centrally", err=True)
            sys.exit(1)
        summary = mark_session(session_id)
        click.echo(f"marked session {session_id}: {summary}")
