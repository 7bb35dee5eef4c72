"""Model terms that are plain numeric columns or products of them.

Both engines use this: DuckDB turns such terms into SQL; the frame engine builds them
with numpy, without formulaic's general (and slower) machinery.
"""

from __future__ import annotations

from formulaic import Formula

from bordin.errors import InputError

__all__ = ["NumericTerm", "numeric_terms"]

NumericTerm = tuple[str, list[str]]


def numeric_terms(expr: str, *, is_numeric: dict[str, bool]) -> list[NumericTerm] | None:
    """``[(name, [columns multiplied])]`` for a formula right-hand side, or ``None``.

    ``None`` means the formula has a term that is not a product of numeric columns
    (a categorical variable, a transform). The intercept is ``("Intercept", [])``; names
    follow formulaic's (``"a:b"``).

    Raises
    ------
    InputError
        If the formula cannot be parsed or names a column that does not exist.
    """
    try:
        formula = Formula(expr)
    except Exception as exc:  # formulaic raises several parser errors
        raise InputError(field="formula", value=expr,
                         allowed=f"a valid formula right-hand side ({exc})") from exc
    out: list[NumericTerm] = []
    for term in formula:
        cols: list[str] = []
        for factor in term.factors:
            name = str(factor.expr)
            method = str(factor.eval_method.value)
            if method == "literal" and name == "1":
                continue
            if method != "lookup":
                return None
            if name not in is_numeric:
                raise InputError(field="formula", value=name,
                                 allowed=f"columns of the data: {sorted(is_numeric)}")
            if not is_numeric[name]:
                return None
            cols.append(name)
        out.append(("Intercept" if not cols else ":".join(cols), cols))
    return out
