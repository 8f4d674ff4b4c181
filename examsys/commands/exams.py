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
        """Start due sessions and hand in every attempt past its deadline + grace (from its last saved answers),
        then mark and audit every finalised attempt not yet post-processed (e.g. after a crash).
        Safe to run at any time and from cron, alongside the web app's own sweeper."""
        from ..services.finalisation import finalise_due
        from ..services.post_finalise import process_pending
        n = finalise_due()
        click.echo(f"Finalised {n} attempt(s).")
        m = process_pending()
        click.echo(f"Marked and audited {m} finalised attempt(s).")
