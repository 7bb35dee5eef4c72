"""Each instrument as a FHIR R4 ``Questionnaire``."""

from __future__ import annotations

from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.questionnaire import (
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireItemAnswerOption,
)

from bordin.errors import InputError
from bordin.exchange.fhir.common import (
    MAX_VALUE,
    MIN_VALUE,
    ORDINAL_VALUE,
    fhir_id,
    questionnaire_url,
)
from bordin.instruments import registry
from bordin.instruments.spec import LOINC, InstrumentSpec, Item

__all__ = [
    "accepted_answers",
    "answer_code",
    "answer_display",
    "answer_system",
    "coded_value",
    "is_choice",
    "questionnaire_for",
    "questionnaires",
]


def is_choice(item: Item) -> bool:
    """Whether the item is answered by choosing a point of a whole-number scale."""
    s = item.scale
    return s.step == 1 and float(s.min).is_integer() and float(s.max).is_integer()


def answer_system(spec: InstrumentSpec) -> str:
    """The code system of the answers: LOINC answer codes where the spec has them."""
    if spec.codes.answers and spec.codes.system == LOINC:
        return LOINC
    return f"{questionnaire_url(spec.id)}/answers"


def answer_code(spec: InstrumentSpec, value: int, *, item: Item) -> str:
    """The code of scale point ``value`` of ``item``: its LOINC answer code (the item's
    own where it has one, see :meth:`InstrumentSpec.answer_codes`), or the number itself."""
    if answer_system(spec) == LOINC:
        return spec.answer_codes(item.id)[value]
    return str(value)


def answer_display(spec: InstrumentSpec, value: int, *, item: Item) -> str | None:
    """The anchor of a scale point as the display of its coding.

    An item's own code (``Item.answer_codes``) has no display: the anchors paraphrase
    the instrument-wide codes, and the display of a coding must not contradict its code.
    """
    if value in item.answer_codes and answer_system(spec) == LOINC:
        return None
    return item.scale.anchors.get(value, str(value))


def accepted_answers(spec: InstrumentSpec, item: Item) -> dict[str, int]:
    """Every answer code read on import for ``item``, with its scale point.

    The item's own codes and the instrument's codes for the same points: LOINC's
    GAD-7 form codes item 2's value 2 as LA18938-3, the MII PRO form as LA6570-1,
    and both mean 2. Local instruments are answered by the number itself.
    """
    points = range(int(item.scale.min), int(item.scale.max) + 1)
    if answer_system(spec) != LOINC:
        return {str(v): v for v in points}
    out = {code: v for v, code in spec.codes.answers.items() if v in points}
    out.update({code: v for v, code in item.answer_codes.items()})
    return out


def coded_value(spec: InstrumentSpec, item_id: str, *, coding: Coding) -> int:
    """The scale point of an answer coding of one item.

    Parameters
    ----------
    spec
        The instrument.
    item_id
        The item (``linkId``: its id or bare number).
    coding
        The answer's ``valueCoding``. Without a system it is read in the instrument's
        answer system; an ``ordinalValue`` extension, if any, must agree with the code.

    Raises
    ------
    InputError
        The item is unknown or not a choice item, the system is not the instrument's
        answer system, the code is not an answer of this item (the error names the item
        and the code and lists the codes that are), or the ordinal value contradicts
        the code.
    """
    item = spec.item(item_id)
    field = f"item {item.id} answer"
    code = coding.code
    if not is_choice(item):
        raise InputError(field=field, value=code, context=spec.id,
                         allowed=f"valueDecimal ({item.scale.describe()}), not a coding")
    wanted = answer_system(spec)
    if coding.system is not None and coding.system != wanted:
        raise InputError(field=f"{field} system", value=coding.system, allowed=wanted,
                         context=spec.id)
    accepted = accepted_answers(spec, item)
    if code not in accepted:
        listed = ", ".join(f"{c} ({v})" for c, v in sorted(accepted.items(),
                                                          key=lambda kv: (kv[1], kv[0])))
        raise InputError(field=f"{field} code", value=code, context=spec.id,
                         allowed=f"one of {listed}")
    value = accepted[code]
    for ext in coding.extension or []:
        if ext.url == ORDINAL_VALUE and ext.valueDecimal is not None \
                and float(ext.valueDecimal) != value:
            raise InputError(field=f"{field} ordinalValue", value=float(ext.valueDecimal),
                             context=spec.id,
                             allowed=f"{value}, the scale point of code {code}, or none")
    return value


def _item(spec: InstrumentSpec, item: Item) -> QuestionnaireItem:
    code = None
    if item.code:
        code = [Coding(system=spec.codes.system, code=item.code, display=item.label)]
    if not is_choice(item):
        return QuestionnaireItem(
            linkId=item.id, text=item.label, type="decimal", code=code,
            extension=[Extension(url=MIN_VALUE, valueDecimal=item.scale.min),
                       Extension(url=MAX_VALUE, valueDecimal=item.scale.max)],
        )
    options = []
    for v in range(int(item.scale.min), int(item.scale.max) + 1):
        options.append(QuestionnaireItemAnswerOption(
            valueCoding=Coding(system=answer_system(spec),
                               code=answer_code(spec, v, item=item),
                               display=answer_display(spec, v, item=item)),
            extension=[Extension(url=ORDINAL_VALUE, valueDecimal=v)],
        ))
    return QuestionnaireItem(linkId=item.id, text=item.label, type="choice", code=code,
                             answerOption=options)


def questionnaire_for(spec: InstrumentSpec | str) -> Questionnaire:
    """The ``Questionnaire`` of an instrument: canonical url and version, codes, items.

    Item texts are Bordin's short labels, never licensed wording. Choice items
    carry their scale points as ``answerOption`` codings (LOINC answer codes
    where the instrument has them) with the ``ordinalValue`` extension;
    visual-analogue items are ``decimal`` with min and max value extensions.
    """
    if isinstance(spec, str):
        spec = registry.get(spec)
    return Questionnaire(
        id=fhir_id("questionnaire", spec.id.replace("_", "-")),
        url=questionnaire_url(spec.id),
        version=spec.version,
        name=spec.id.upper(),
        title=spec.name,
        status="active",
        subjectType=["Patient"],
        code=[Coding(system=spec.codes.system, code=spec.codes.panel, display=spec.name)],
        description=spec.description or None,
        copyright=spec.licence,
        item=[_item(spec, it) for it in spec.items],
    )


def questionnaires(instruments: list[str] | None = None) -> list[Questionnaire]:
    """Questionnaires of the given instruments (every registered one by default)."""
    ids = instruments if instruments is not None else registry.ids()
    return [questionnaire_for(i) for i in ids]
