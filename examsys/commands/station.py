"""``examsys station ...``: offline stations — keys, exam packages out, results packages back
(:mod:`examsys.services.station_package`; docs/deployment.md)."""
from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext


def _fail(e) -> None:
    click.echo(f"Refused: {e.message}", err=True)
    sys.exit(1)


def register(cli) -> None:
    @cli.group("station")
    def station_group():
        """Offline stations: keys, exam packages and results packages."""

    @station_group.command("keygen")
    @click.argument("code")
    @click.option("--force", is_flag=True, help="Replace an existing key (packages made with the old one can "
                                                "no longer be read).")
    @with_appcontext
    def keygen(code, force):
        """Create the secret key of station CODE (on the central server). Copy the key file to the station
        laptop once, by hand, and install it there with `examsys station install-key FILE`."""
        from ..services.station_package import PackageError, generate_key
        try:
            path, kid = generate_key(code, force=force)
        except PackageError as e:
            _fail(e)
        click.echo(f"Key of station {code} written to {path} (key id {kid}).")
        click.echo("Copy this file to the station laptop (never by e-mail) and run there: "
                   "examsys station install-key FILE")

    @station_group.command("install-key")
    @click.argument("key_file", type=click.Path(dir_okay=False, exists=True))
    @click.option("--force", is_flag=True, help="Replace a different key of the same station.")
    @with_appcontext
    def install_key(key_file, force):
        """Install a station key file made by `examsys station keygen`."""
        from ..services.station_package import PackageError, install_key as install
        try:
            code, path, kid = install(key_file, force=force)
        except PackageError as e:
            _fail(e)
        click.echo(f"Key of station {code} installed at {path} (key id {kid}).")

    @station_group.command("export-package")
    @click.option("--session", "session_id", type=int, required=True, help="The exam session's id.")
    @click.argument("out", type=click.Path(dir_okay=False))
    @with_appcontext
    def export_package(session_id, out):
        """Write the signed, encrypted exam package of a scheduled session for its station (paper without
        answer keys, images, roster). The session's central auto start is switched off."""
        from ..services.station_package import PackageError, export_exam_package
        try:
            r = export_exam_package(session_id, out)
        except PackageError as e:
            _fail(e)
        c = r.counts
        click.echo(f"Exam package {r.package_id} for station {r.station} written to {r.path}: "
                   f"{c['candidates']} candidate(s), {c['items']} question(s), {c['media']} image(s), no answer keys.")

    @station_group.command("import-package")
    @click.argument("package", type=click.Path(dir_okay=False))
    @with_appcontext
    def import_package(package):
        """Import an exam package on the station (once; a second import changes nothing)."""
        from ..services.station_package import PackageError, import_exam_package
        try:
            r = import_exam_package(package)
        except PackageError as e:
            _fail(e)
        if r.already:
            click.echo(r.message)
            return
        c = r.counts
        click.echo(f"Imported exam package {r.package_id}: session {r.session_id} with {c['candidates']} "
                   f"candidate(s), {c['items']} question(s), {c['media']} image(s).")

    @station_group.command("export-results")
    @click.option("--session", "session_id", type=int, required=True, help="The session's id on this station.")
    @click.argument("out", type=click.Path(dir_okay=False))
    @with_appcontext
    def export_results(session_id, out):
        """Write the signed, encrypted results package of a finished session (answers, times, events)."""
        from ..services.station_package import PackageError, export_results_package
        try:
            r = export_results_package(session_id, out)
        except PackageError as e:
            _fail(e)
        c = r.counts
        click.echo(f"Results package {r.package_id} written to {r.path}: {c['attempts']} answer sheet(s), "
                   f"{c['responses']} answer(s), {c['events']} event(s).")

    @station_group.command("import-results")
    @click.argument("package", type=click.Path(dir_okay=False))
    @click.option("--no-marking", is_flag=True, help="Do not machine-mark the session after the import.")
    @with_appcontext
    def import_results(package, no_marking):
        """Import a station's results package on the central server (once; a second import changes nothing),
        then machine-mark the session."""
        from ..services.station_package import PackageError, import_results_package
        try:
            r = import_results_package(package, mark=not no_marking)
        except PackageError as e:
            _fail(e)
        if r.already:
            click.echo(r.message)
            return
        c = r.counts
        click.echo(f"Imported results package {r.package_id} into session {r.session_id}: {c['attempts']} answer "
                   f"sheet(s) ({c['submitted']} handed in, {c['absent']} absent), {c['responses']} answer(s), "
                   f"{c['events']} event(s)." + (f" Machine-marked {c['marked']}." if "marked" in c else ""))
        if r.message:
            click.echo(r.message, err=True)

    @station_group.command("mark")
    @click.option("--session", "session_id", type=int, required=True, help="The exam session's id.")
    @with_appcontext
    def mark(session_id):
        """Machine-mark a session again (after an import whose marking failed); idempotent."""
        from ..services import marking_hooks
        from ..services.marking import MarkingError
        try:
            r = marking_hooks.mark_session(session_id)
        except MarkingError as e:
            click.echo(f"Refused: {e}", err=True)
            sys.exit(1)
        click.echo(f"Machine-marked {r.get('marked', 0)} answer sheet(s) of session {session_id}.")

    @station_group.command("inspect")
    @click.argument("package", type=click.Path(dir_okay=False))
    @with_appcontext
    def inspect(package):
        """Show a package's manifest (what, for which station and session, when) without importing it."""
        from ..services.station_package import PackageError, read_manifest
        try:
            m = read_manifest(package)
        except PackageError as e:
            _fail(e)
        click.echo(json.dumps({k: v for k, v in m.items() if k != "payload"}, ensure_ascii=False, indent=1))
