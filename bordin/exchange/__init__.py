"""Import and export: tidy CSV/Parquet tables and FHIR R4 bundles.

- :mod:`bordin.exchange.tidy`: :func:`~bordin.exchange.tidy.import_tidy`,
  :func:`~bordin.exchange.tidy.export_tidy` (DESIGN.md's ``administrations``,
  ``responses`` and ``episodes`` contracts; wide item columns accepted on import).
- :mod:`bordin.exchange.fhir`: Questionnaires, QuestionnaireResponses, score
  Observations and Bundles (``fhir.resources`` R4B models), in and out.
- :mod:`bordin.exchange.pseudonymise`: keyed-hash pseudonyms and date shifting
  for research exports.

Every import checks every row first and reports every bad one with its line
(:class:`~bordin.errors.ImportRowsError`), then writes all rows or none.
"""
