"""Each instrument as a FHIR R4 ``Questionnaire``."""

from __future__ import annotations

from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.questionnaire import (
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireItemAnswerOption,
)

from bordin.exchange.fhir.common import (
    MAX_VALUE,
    MIN_VALUE,
    ORDINAL_VALUE,
    fhir_id,
    questionnaire_url,
)
from bordin.instruments import registry
from bordin.instruments.spec import LOINC, InstrumentSpec, Item

__all__ = ["answer_system", "is_choice", "questionnaire_for", "questionnaires"]


def is_choice(item: Item) -> bool:
    """Whether the item is answered by choosing a point of a whole-number scale."""
    s = item.scale
    return s.step == 1 and float(s.min).is_integer() and float(s.max).is_integer()


def answer_system(spec: InstrumentSpec) -> str:
    """The code system of the answers: LOINC answer codes where the spec has them."""
    if spec.codes.answers and spec.codes.system == LOINC:
        return LOINC
    return f"{questionnaire_url(spec.id)}/answers"


def answer_code(spec: InstrumentSpec, value: int) -> str:
    """The code of scale point ``value`` (a LOINC answer code, or the number itself)."""
    if answer_system(spec) == LOINC:
        return spec.codes.answers[value]
    return str(value)


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
            valueCoding=Coding(system=answer_system(spec), code=answer_code(spec, v),
                               display=item.scale.anchors.get(v, str(v))),
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
