"""``examsys analyze``: item analysis of exported files, no database (DESIGN.md contract).

    examsys analyze RESPONSES.csv --key KEY.csv [--groups GROUPS.csv] [--irt rasch|2pl] [--copying]
                    [--format json|text|xlsx] [-o OUT]

Every argument is handed unchanged to :func:`scoring.cli.main` (``main(["analyze", ...])``), which parses
them, reads the files, runs :func:`scoring.report.analyze` and writes the report; its exit status is passed
through: 0 success, 1 invalid input (every problem on stderr with file, row and column), 2 usage error,
3 the output cannot be written, 4 internal error. ``examsys analyze --help`` prints the options.
"""
from __future__ import annotations

import sys

import click

CONTEXT = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


def run(args) -> int:
    """Run ``scoring.cli`` on ``args`` (the words after ``examsys analyze``) and return its exit status."""
    from scoring.cli import main
    return int(main(["analyze", *[str(a) for a in args]]))


def register(cli) -> None:
    @cli.command("analyze", context_settings=CONTEXT, with_appcontext=False, add_help_option=False,
                 short_help="Item analysis of RESPONSES.csv against KEY.csv (files only, no database).")
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def analyze(args):
        """Classical item analysis, reliability, DIF, copying screen and flags of exported responses.

        RESPONSES.csv --key KEY.csv [--groups GROUPS.csv] [--irt rasch|2pl] [--copying]
        [--format json|text|xlsx] [-o OUT]; see `examsys analyze --help`.
        """
        code = run(args)
        sys.stdout.flush()
        if code:
            sys.exit(code)
