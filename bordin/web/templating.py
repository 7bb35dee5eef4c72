"""Jinja templates and the helper that renders a page with the caller's context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

__all__ = ["render", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def _json_script(value: Any) -> Markup:
    # For <script type="application/json">: escape "<", ">" and "&" so no value can
    # close the script element.
    text = json.dumps(value, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _suggestion(value: Any) -> str:
    """The text of a suggestion given by id (the monitor's catalogue) or as text."""
    if isinstance(value, dict):
        return str(value.get("text") or value.get("id") or "")
    from bordin.monitor.feedback import suggestions

    found = suggestions().get(str(value))
    return found.text if found is not None else str(value)


templates.env.filters["json_script"] = _json_script
templates.env.filters["suggestion"] = _suggestion


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """Render template ``name`` with ``caller`` and ``csrf_token`` added to ``context``."""
    caller = getattr(request.state, "caller", None)
    ctx = {"caller": caller, "user": caller.user if caller else None,
           "csrf_token": caller.csrf_token if caller else ""}
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
