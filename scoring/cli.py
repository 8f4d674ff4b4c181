"""Command line: ``analyze RESPONSES.csv --key KEY.csv [--groups GROUPS.csv] [--irt rasch|2pl]
[--copying] [--format json|text|xlsx] [-o OUT]``.

Works on files alone (no database). The web app's ``examsys analyze`` delegates here with
``main(["analyze", ...])``; ``python -m scoring.cli analyze ...`` runs it directly.

Exit status: 0 success; 1 invalid input (every problem listed on stderr with file, row and column);
2 usage error; 3 the output cannot be written; 4 unexpected internal error (reported, never a
traceback).
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .errors import ScoringInputError, ScoringWarning
from .flags import FlagThresholds

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_INPUT", "EXIT_USAGE", "EXIT_OUTPUT", "EXIT_INTERNAL"]

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_OUTPUT, EXIT_INTERNAL = 0, 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: message to stderr, exit status 2, no traceback
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the ``analyze`` command."""
    parser = _Parser(prog="examsys", description="Item analysis of exam responses (试题分析).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    a = sub.add_parser("analyze", help="classical item analysis, reliability, DIF, copying screen, flags",
                       description="Classical item analysis of RESPONSES.csv against KEY.csv.")
    a.add_argument("responses", metavar="RESPONSES.csv", help="candidate_id, then one column per item id")
    a.add_argument("--key", required=True, metavar="KEY.csv", help="item_id,key,max_points[,n_options]")
    a.add_argument("--groups", metavar="GROUPS.csv",
                   help="candidate_id,group: enables DIF and station_leak; the copying screen runs within groups")
    a.add_argument("--reference-group", metavar="GROUP",
                   help="DIF reference group (default: each group against all others)")
    a.add_argument("--irt", choices=("rasch", "2pl"), help="also fit an IRT model to the 0/1 items")
    a.add_argument("--copying", action="store_true", help="screen all candidate pairs for answer copying")
    a.add_argument("--format", choices=("json", "text", "xlsx"),
                   help="output format (default: from the -o extension, else json)")
    a.add_argument("-o", "--output", metavar="OUT", help="output file (default: standard output; required for xlsx)")
    a.add_argument("--pass-fraction", type=float, default=None, metavar="F",
                   help="pass mark as a share of the maximum total (default 0.60)")
    a.add_argument("--cut", type=float, default=None, metavar="POINTS",
                   help="pass mark in points (overrides --pass-fraction)")
    a.add_argument("--min-n", type=int, default=None, metavar="N", help="no item flags below N candidates (default 30)")
    a.add_argument("--multiple-policy", choices=("exact", "partial"), default="exact",
                   help="scoring of multiple-answer items (default exact)")
    return parser


def _format(args) -> str:
    if args.format:
        return args.format
    out = (args.output or "").lower()
    if out.endswith(".xlsx"):
        return "xlsx"
    if out.endswith(".txt"):
        return "text"
    return "json"


def _run(args) -> int:
    from .io import read_inputs, write_json, write_text, write_xlsx
    from .report import analyze

    fmt = _format(args)
    if fmt == "xlsx" and not args.output:
        sys.stderr.write("examsys analyze: error: --format xlsx needs an output file (-o OUT.xlsx)\n")
        return EXIT_USAGE
    if args.reference_group and not args.groups:
        sys.stderr.write("examsys analyze: error: --reference-group needs --groups GROUPS.csv\n")
        return EXIT_USAGE
    th_kwargs = {}
    if args.pass_fraction is not None:
        th_kwargs["pass_fraction"] = args.pass_fraction
    if args.min_n is not None:
        th_kwargs["min_n"] = args.min_n
    try:
        thresholds = FlagThresholds(**th_kwargs)
    except ValueError as exc:
        sys.stderr.write(f"examsys analyze: error: {exc}\n")
        return EXIT_USAGE
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScoringWarning)
        try:
            matrix, groups = read_inputs(args.responses, args.key, args.groups, multiple_policy=args.multiple_policy)
            report = analyze(matrix, groups=groups, reference_group=args.reference_group, irt=args.irt,
                             copying=args.copying, thresholds=thresholds, cut=args.cut)
        except ScoringInputError as exc:
            for w in caught:
                sys.stderr.write(f"warning: {w.message}\n")
            sys.stderr.write(f"examsys analyze: invalid input: {exc}\n")
            return EXIT_INPUT
        except ValueError as exc:
            sys.stderr.write(f"examsys analyze: error: {exc}\n")
            return EXIT_INPUT
    for w in caught:
        sys.stderr.write(f"warning: {w.message}\n")
    try:
        if fmt == "xlsx":
            write_xlsx(report, args.output)
        elif args.output:
            (write_json if fmt == "json" else write_text)(report, args.output)
        else:
            (write_json if fmt == "json" else write_text)(report, sys.stdout)
    except OSError as exc:
        sys.stderr.write(f"examsys analyze: cannot write {args.output or 'standard output'}: "
                         f"{exc.strerror or exc}\n")
        return EXIT_OUTPUT
    return EXIT_OK


def main(argv=None) -> int:
    """Run the command line; return the exit status (never raises, never prints a traceback).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name, e.g. ``["analyze", "R.csv", "--key", "K.csv"]``;
        default ``sys.argv[1:]``.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _run(args)
    except KeyboardInterrupt:
        sys.stderr.write("examsys analyze: interrupted\n")
        return 130
    except MemoryError:
        sys.stderr.write("examsys analyze: out of memory\n")
        return EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - the contract is "never a traceback"
        sys.stderr.write(f"examsys analyze: internal error ({type(exc).__name__}: {exc}); please report it\n")
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
