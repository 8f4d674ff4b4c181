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
