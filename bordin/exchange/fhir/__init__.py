"""FHIR R4 exchange through the R4B models of ``fhir.resources``.

- :func:`questionnaire_for`: an instrument as a ``Questionnaire``.
- :func:`bundle_from` / :func:`export_fhir`: tidy data or the whole store as a
  ``collection`` or ``transaction`` Bundle (QuestionnaireResponses, score
  Observations, and the patients, practitioners, episodes and encounters they
  refer to).
- :func:`import_fhir`: a Bundle's QuestionnaireResponses into the store, every
  entry validated first, all or nothing.
"""

from bordin.exchange.fhir.common import BASE, questionnaire_url
from bordin.exchange.fhir.questionnaire import questionnaire_for, questionnaires
from bordin.exchange.fhir.reader import (
    import_fhir,
    import_fhir_json,
    parse_bundle,
    read_bundle,
    tidy_from_bundle,
)
from bordin.exchange.fhir.writer import bundle_from, export_fhir, resources_from

__all__ = [
    "BASE",
    "bundle_from",
    "export_fhir",
    "import_fhir",
    "import_fhir_json",
    "parse_bundle",
    "questionnaire_for",
    "questionnaire_url",
    "questionnaires",
    "read_bundle",
    "resources_from",
    "tidy_from_bundle",
]
