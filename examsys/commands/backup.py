"""``examsys backup OUT`` and ``examsys restore IN``: one archive with the database and the media files
(:mod:`examsys.services.backup`; docs/deployment.md)."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def register(cli) -> None:
    @cli.command("backup")
    @click.argument("out", type=click.Path(dir_okay=False, writable=True))
    @click.option("--gzip/--no-gzip", "compress", default=None,
                  help="Compress the archive (default: when OUT ends in .gz or .tgz).")
    @with_appcontext
    def backup_command(out, compress):
        """Write a consistent snapshot of the database and the media files to the archive OUT (.tar or
        .tar.gz), with a manifest (version, migration revision, time, checksum of every member). Safe while
        the app is serving."""
        from ..services.backup import BackupError, create_backup
        try:
            r = create_backup(out, compress=compress)
        except BackupError as e:
            click.echo(f"Backup failed: {e.message}", err=True)
            sys.exit(1)
        click.echo(f"Backup written: {r.path} ({_size(r.size)}) in {r.seconds:.1f} s")
        click.echo(f"  database: {r.dialect}, revision {r.revision}, {len(r.tables)} tables, {r.rows} rows")
        click.echo(f"  media: {r.media_files} file(s), {_size(r.media_bytes)}")

    @cli.command("restore")
    @click.argument("archive", type=click.Path(dir_okay=False))
    @click.option("--check", "check_only", is_flag=True, help="Only verify the archive; change nothing.")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @with_appcontext
    def restore_command(archive, check_only, yes):
        """Replace the database and the media files with the backup ARCHIVE. All or nothing: a damaged or
        mismatching archive is refused and nothing is changed. Stop the app servers first."""
        from flask import current_app

        from ..extensions import db
        from ..services.backup import BackupError, read_manifest, restore_backup
        try:
            manifest = read_manifest(archive)
        except BackupError as e:
            click.echo(f"Restore refused: {e.message}", err=True)
            sys.exit(1)
        dbinfo = manifest["database"]
        click.echo(f"Archive: {archive}, made {manifest.get('created_at')} by examsys "
                   f"{manifest.get('examsys_version')}, {dbinfo['dialect']} at revision "
                   f"{manifest.get('alembic_revision')}, {sum(dbinfo['tables'].values())} rows, "
                   f"{manifest.get('media', {}).get('files', 0)} media file(s)")
        if not check_only and not yes:
            target = db.engine.url.render_as_string(hide_password=True)
            click.confirm(f"Replace the database {target} and the media in {current_app.config['MEDIA_DIR']} "
                          f"with this backup?", abort=True)
        try:
            r = restore_backup(archive, check_only=check_only)
        except BackupError as e:
            click.echo(f"Restore refused: {e.message}", err=True)
            sys.exit(1)
        if check_only:
            click.echo("The archive is complete and intact; it can be restored here. Nothing was changed.")
            return
        click.echo(f"Restored {r.rows} rows in {len(r.tables)} tables and {r.media_files} media file(s) "
                   f"in {r.seconds:.1f} s.")
        if r.needs_upgrade:
            click.echo(f"The backup is at revision {r.revision}; this examsys is at {r.head}. "
                       f"Now run: examsys db upgrade")
