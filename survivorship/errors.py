"""Exceptions raised by the survivorship library.

They are plain ``ValueError`` subclasses so that callers which do not know this
library still treat them as bad input rather than as crashes.
"""

from __future__ import annotations


class RulesError(ValueError):
    """A rules file (or rules document) is invalid.

    The message always names the file, the field and the problem, because the
    person reading it is an operator who has to fix a YAML file by hand.
    ``problems`` holds every problem found, not just the first one, so a single
    ``mdm rules check`` run shows them all.
    """

    def __init__(self, file: str, field: str | None, problem: str, problems: list[str] | None = None) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        self.problems = problems or [format_problem(file, field, problem)]
        extra = f" (and {len(self.problems) - 1} more problem(s))" if len(self.problems) > 1 else ""
        super().__init__(self.problems[0] + extra)


class OverrideError(ValueError):
    """A steward override names an unknown field or has the wrong type.

    Raised by ``RuleSet.validate_override``; the API turns it into a 422, so the
    message is written for the steward, and ``field``/``problem`` are exposed for
    the error ``details``.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"override of field {field!r}: {problem}")


def format_problem(file: str, field: str | None, problem: str) -> str:
    """One line per problem: ``file: field 'x': problem`` (the shape every message uses)."""
    where = f"field {field!r}: " if field else ""
    return f"{file}: {where}{problem}"
