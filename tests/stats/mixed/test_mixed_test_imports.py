"""The mixed-model tests import shared constants from a uniquely named module.

``from conftest import ...`` picks whichever ``conftest`` is first on ``sys.path``; in a
full-suite run that was ``tests/web/conftest.py`` and the import failed.
"""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).parent


def test_no_test_module_imports_conftest():
    offenders = []
    for path in sorted(HERE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if "conftest" in names:
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_shared_constants_resolve_to_this_package():
    import mixed_fixtures

    assert Path(mixed_fixtures.__file__).parent == HERE
    assert mixed_fixtures.FIXTURE.exists()
