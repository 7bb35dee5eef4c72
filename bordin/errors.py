"""The package's errors and warnings.

One root error, :class:`BordinError`, with a small tree under it, and one root
warning, :class:`BordinWarning`, for statistical caveats. Every error raised for
bad input names the field, the value and what is allowed, so that a clinician, a
script or an API client can act on it without reading a traceback.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BordinError",
    "BordinWarning",
    "BoundaryWarning",
    "ConflictError",
    "ConvergenceWarning",
    "DataDroppedWarning",
    "EstimationError",
    "ImportRowsError",
    "InputError",
    "NotFoundError",
    "StatisticalWarning",
    "StoreError",
]


class BordinError(Exception):
    """Root of every error Bordin raises on purpose."""


class InputError(BordinError, ValueError):
    """A value that Bordin cannot accept.

    Parameters
    ----------
    field
        The name of the argument, column, item or setting that holds the value.
    value
        The offending value.
    allowed
        What would have been accepted, in words ("an integer from 0 to 3").
    context
        Where the value was met (an instrument, a file and line), if that helps.
    """

    def __init__(
        self,
        *,
        field: str,
        value: Any,
        allowed: str,
        context: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.context = context
        where = f"{context}: " if context else ""
        super().__init__(f"{where}{field} = {value!r} is not allowed; expected {allowed}")


class ImportRowsError(InputError):
    """An import that found bad rows; nothing was written.

    ``problems`` lists ``(line, field, message)`` for every bad row, so the
    whole file can be fixed in one pass.
    """

    def __init__(self, *, source: str, problems: list[tuple[int, str, str]]) -> None:
        self.problems = problems
        self.source = source
        shown = "; ".join(f"line {ln}: {msg}" for ln, _f, msg in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        BordinError.__init__(
            self, f"{source}: {len(problems)} bad row(s), nothing imported: {shown}{more}"
        )
        self.field = "rows"
        self.value = len(problems)
        self.allowed = "rows that pass validation"
        self.context = source


class EstimationError(BordinError, ArithmeticError):
    """The data cannot support the estimate asked for (singular design, no convergence)."""


class StoreError(BordinError):
    """A problem in the data store."""


class NotFoundError(StoreError, LookupError):
    """The object asked for does not exist, or is outside the caller's scope."""


class ConflictError(StoreError):
    """The write conflicts with what is stored (a stale version, a duplicate)."""


class BordinWarning(UserWarning):
    """Root of Bordin's warnings."""


class StatisticalWarning(BordinWarning):
    """A result that is valid but needs a caveat (few studies, small groups)."""


class ConvergenceWarning(StatisticalWarning):
    """An optimiser stopped without meeting its convergence criterion."""


class BoundaryWarning(StatisticalWarning):
    """A variance component was estimated at its boundary (zero)."""


class DataDroppedWarning(BordinWarning):
    """Rows were dropped (missing values), with their count in the message."""
