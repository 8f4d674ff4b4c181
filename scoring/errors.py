"""Errors and warnings raised by the scoring library.

`ScoringInputError` carries every problem found in the input (file, row, column, message), so an
import can be rejected all at once with a complete list of what to fix (DESIGN.md, decision 6).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["InputProblem", "ScoringInputError", "ScoringWarning"]

#: How many problems ``str(ScoringInputError)`` lists before summarising the rest.
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class InputProblem:
    """One located problem in an input file or array.

    Attributes
    ----------
    message : str
        What is wrong, in English.
    file : str or None
        File name (or a label such as ``"responses"`` for in-memory input).
    row : int or None
        1-based line number in the file (header = line 1) or, for in-memory input, the 0-based
        row index of the candidate.
    column : str or None
        Column name (item id, ``candidate_id``, ...); the 1-based column number is added by the
        file readers, e.g. ``"Q7 (column 8)"``.
    """

    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class ScoringInputError(ValueError):
    """Input that cannot be scored, with every located problem found.

    Parameters
    ----------
    problems : sequence of InputProblem or str
        At least one problem. Plain strings become problems without a location.
    """

    def __init__(self, problems):
        items = [p if isinstance(p, InputProblem) else InputProblem(str(p)) for p in problems]
        if not items:
            items = [InputProblem("invalid input")]
        self.problems: tuple[InputProblem, ...] = tuple(items)
        super().__init__(self._format())

    def _format(self) -> str:
        shown = [str(p) for p in self.problems[:MAX_LISTED_PROBLEMS]]
        rest = len(self.problems) - len(shown)
        if rest > 0:
            shown.append(f"... and {rest} more problem(s)")
        if len(self.problems) == 1:
            return shown[0]
        return f"{len(self.problems)} problems:\n  " + "\n  ".join(shown)


class ScoringWarning(UserWarning):
    """A condition the analysis can handle but the user should know about (e.g. a constant column)."""
