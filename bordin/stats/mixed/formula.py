"""Parse lme4-style model formulas: ``y ~ fixed + (expr | g1/g2) + (expr | g3)``.

Written by hand because formulaic (which builds the fixed part and the random-effects
designs) has no syntax for lme4's ``( | )`` terms: this module only takes those terms
out of the formula and hands each side to formulaic.
"""

from __future__ import annotations

import re

from bordin.engines import ModelSpec, RandomPart
from bordin.errors import InputError

__all__ = ["parse_formula"]

_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


def _split_random(rhs: str, formula: str) -> tuple[str, list[str]]:
    """Take the top-level ``( ... | ... )`` groups out of ``rhs``."""
    fixed: list[str] = []
    random: list[str] = []
    depth = 0
    start = 0
    i = 0
    buf_start = 0
    while i < len(rhs):
        ch = rhs[i]
        if ch == "(":
            if depth == 0:
                start = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InputError(field="formula", value=formula, allowed="balanced parentheses")
            if depth == 0:
                inner = rhs[start + 1 : i]
                if "|" in inner and inner.count("(") == 0:
                    fixed.append(rhs[buf_start:start])
                    random.append(inner)
                    buf_start = i + 1
        i += 1
    if depth != 0:
        raise InputError(field="formula", value=formula, allowed="balanced parentheses")
    fixed.append(rhs[buf_start:])
    text = " ".join(fixed)
    # tidy the '+' signs left behind by removed terms
    text = re.sub(r"\+\s*(\+\s*)+", "+ ", text).strip()
    text = re.sub(r"^\+\s*", "", text)
    text = re.sub(r"\s*\+$", "", text).strip()
    return text, random


def parse_formula(formula: str) -> ModelSpec:
    """Split an lme4-style formula into response, fixed part and random terms.

    Parameters
    ----------
    formula
        For example ``"phq9 ~ session + alliance + (1 + session | patient)"`` or
        ``"y ~ x + (1 | clinic/therapist/patient)"``. ``a/b`` expands to
        ``(1 | a) + (1 | a:b)``, as in lme4. ``||`` (uncorrelated terms) is not supported;
        write separate terms instead.

    Returns
    -------
    ModelSpec
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise InputError(field="formula", value=formula,
                         allowed="a string 'response ~ fixed + (expr | group)'")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not _NAME.match(lhs):
        raise InputError(field="formula", value=lhs, allowed="a response column name")
    fixed, random_texts = _split_random(rhs, formula)
    if not random_texts:
        raise InputError(field="formula", value=formula,
                         allowed="at least one random-effects term such as (1 | group)")
    parts: list[RandomPart] = []
    for text in random_texts:
        if "||" in text:
            raise InputError(field="formula", value=f"({text})",
                             allowed="'|' terms; write (1 | g) + (0 + x | g) for '||'")
        expr, _, group = (s.strip() for s in text.partition("|"))
        if not expr:
            raise InputError(field="formula", value=f"({text})",
                             allowed="a term such as (1 | group) or (1 + x | group)")
        levels = [g.strip() for g in group.split("/")]
        acc: list[str] = []
        for level in levels:
            names = [n.strip() for n in level.split(":")]
            for n in names:
                if not _NAME.match(n):
                    raise InputError(field="formula", value=f"({text})",
                                     allowed="grouping variables that are column names")
            acc.extend(names)
            parts.append(RandomPart(expr=expr,
                                    grouping=tuple(acc)))
    if not fixed:
        fixed = "1"
    # lme4 keeps the order of terms; duplicated (expr, grouping) pairs are an error
    seen = set()
    for part in parts:
        key = (part.expr.replace(" ", ""), part.grouping)
        if key in seen:
            raise InputError(field="formula", value=formula,
                             allowed="each random-effects term once")
        seen.add(key)
    return ModelSpec(response=lhs, fixed=fixed, random=tuple(parts))
