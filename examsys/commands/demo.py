"""``examsys demo``: load the demo bank and users (once)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext


def register(cli) -> None:
    @cli.command("demo")
    @with_appcontext
    def demo_command():
        """Load the demo stations, users, occupations and items (does nothing if already loaded)."""
        from ..services.demo import demo_logins, load_demo
        loaded = load_demo()
        click.echo("Demo loaded." if loaded else "Demo already loaded.")
        click.echo("Demo logins (username / password / role):")
        for username, password, role in demo_logins():
            click.echo(f"  {username:<10} {password:<14} {role}")
        from ..services.demo_sitting import ensure_demo_sitting
        from ..template_helpers import local_time
        sess, logins = ensure_demo_sitting()
        if sess is not None:
            click.echo(f"Demo sitting “{sess.name}”: login opens now, starts {local_time(sess.starts_at, '%H:%M')} "
                       f"(UTC+8), {sess.duration_min} min. Candidates log in at /exam/login with the admission "
                       f"number and the last 6 digits of the ID number:")
            for ticket, name, last6, code in logins[:5]:
                click.echo(f"  {ticket}  {last6}   ({name}; one-time code {code})")
