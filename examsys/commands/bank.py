"""``examsys bank import FILE`` and ``examsys bank export FILE`` (.xlsx or .csv)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


def register(cli) -> None:
    @cli.group("bank")
    def bank():
        """Import and export the item bank (.xlsx or .csv, the format of DESIGN.md)."""

    @bank.command("import")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--user", "username", default=None, help="Attribute the import to this user (default: system).")
    @click.option("--allow-near-duplicates", is_flag=True, help="Import even when near-duplicates are found.")
    @with_appcontext
    def import_command(file, username, allow_near_duplicates):
        """Import FILE into the bank, all-or-nothing; problems go to stderr with sheet, row and column."""
        from ..extensions import db
        from ..models import User
        from ..services import bank_io
        path = Path(file)
        if not path.is_file():
            click.echo(f"error: {file}: no such file", err=True)
            sys.exit(2)
        actor = None
        if username:
            actor = db.session.query(User).filter_by(username=username).one_or_none()
            if actor is None:
                click.echo(f"error: unknown user {username!r}", err=True)
                sys.exit(2)
        data = path.read_bytes()
        result, problems = bank_io.parse_bank_file(data, path.name,
                                                   max_bytes=current_app.config["MAX_IMPORT_BYTES"])
        total = len(result.items) if result is not None and not problems else 0
        with click.progressbar(length=max(total, 1), label="importing", file=sys.stderr) as bar:
            outcome = bank_io.import_bank(data, path.name, actor, allow_near_duplicates=allow_near_duplicates,
                                          max_bytes=current_app.config["MAX_IMPORT_BYTES"],
                                          progress=lambda n: bar.update(1))
        for w in bank_io.describe(outcome.warnings, "en"):
            click.echo(f"warning: {path.name}: {w}", err=True)
        if not outcome.ok:
            for p in bank_io.describe(outcome.problems, "en"):
                click.echo(f"error: {path.name}: {p}", err=True)
            click.echo(f"nothing imported ({len(outcome.problems)} problems)", err=True)
            sys.exit(1)
        click.echo(f"imported {path.name}: {outcome.created} new items, {outcome.updated} new versions, "
                   f"{outcome.unchanged} unchanged")

    @bank.command("export")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option("--occupation", default=None, help="Only this occupation code.")
    @click.option("--status", default=None, help="Only items with this status (e.g. approved).")
    @with_appcontext
    def export_command(file, occupation, status):
        """Export the bank's current item versions to FILE (.xlsx or .csv)."""
        from ..services import bank_io
        fmt = Path(file).suffix.lower().lstrip(".")
        if fmt not in bank_io.FORMATS:
            click.echo("error: FILE must end in .xlsx or .csv", err=True)
            sys.exit(2)
        body = bank_io.export_bank(fmt, occupation, status)
        Path(file).write_bytes(body)
        click.echo(f"exported to {file}")
