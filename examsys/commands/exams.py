"""``examsys exams ...``: exam delivery maintenance commands."""
from __future__ import annotations

import click
from flask.cli import with_appcontext


def register(cli) -> None:
    @cli.group("exams")
    def exams_group():
        """Exam sessions and attempts."""

    @exams_group.command("finalise-due")
    @with_appcontext
    def finalise_due_command():
        """Start due sessions and hand in every attempt past its deadline + grace (from its last saved answers).
        Safe to run at any time and from cron, alongside the web app's own sweeper."""
        from ..services.attempts import finalise_due
        n = finalise_due()
        click.echo(f"Finalised {n} attempt(s).")
