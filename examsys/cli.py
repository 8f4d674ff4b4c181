"""The ``examsys`` command: Flask's CLI for this app plus examsys's own commands.

Commands are registered by :func:`register_commands`; feature modules add theirs to ``COMMAND_MODULES``
(each exposes ``register(cli_group)``).
"""
from __future__ import annotations

import importlib

import click
from flask.cli import FlaskGroup

COMMAND_MODULES = [
    "examsys.commands.demo",
    "examsys.commands.bank",
    "examsys.commands.marking",
    "examsys.commands.exams",
    "examsys.commands.assemble",
    "examsys.commands.analyze",
    "examsys.commands.backup",
    "examsys.commands.station",
]


def register_commands(app) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:  # a feature module not present yet
            if e.name != name:
                raise
            continue
        module.register(app.cli)


def _create_app():
    from . import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, load_dotenv=False)
def main():
    """examsys — question bank and exam delivery for vocational skill appraisal."""
