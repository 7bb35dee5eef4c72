"""Settings of the web app, read from ``BORDIN_*`` environment variables.

A default secret is refused outside development: :class:`WebSettings` raises
:class:`~bordin.errors.InputError` when ``env`` is not ``development`` and the
secret is still the placeholder (the full-stack-fastapi-template rule).
``bordin serve`` creates a random per-installation secret file when none is set.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bordin.errors import InputError

__all__ = ["DEFAULT_SECRET", "WebSettings"]

DEFAULT_SECRET = "change-me"


class WebSettings(BaseSettings):
    """Everything the web app can be configured with.

    Attributes
    ----------
    env
        ``development`` (default secret and plain-HTTP cookies allowed), ``test`` or
        ``production``.
    secret_key
        Keys CSRF tokens of anonymous forms and the pseudonyms of research exports.
    database_url
        SQLAlchemy URL; empty means the embedded SQLite file of ``bordin.store``.
    session_idle_minutes, session_absolute_hours
        A session ends after this much inactivity, and in any case after this long.
    login_max_failures, login_window_minutes
        More failed logins than this for one username (or ten times this from one
        client) within the window refuse further attempts until the window passes.
    link_ttl_hours
        Default lifetime of a patient questionnaire link.
    break_glass_hours
        How long a clinician's emergency (break-glass) access to a patient of their
        clinic outside their caseload lasts; breaking the glass again renews it.
    monitor_in_process, monitor_interval_seconds
        Run the monitor on submitted episodes in a background thread of the server,
        batched every so many seconds (risk alerts are always raised at once). Turn it
        off when the monitor runs as its own process.
    worker_threads
        Threads per server process for the views' database work. Few is faster: a
        request's Python work holds the GIL, and more threads only take turns at it
        (PostgreSQL, 2 workers, 16 clients, one run each on a shared machine: 4
        threads 235/s with p99 114 ms, 8 threads 199/s with p99 247 ms, 40 threads
        176/s with p99 287 ms); but a slow page (an export, a report) holds one of
        them while it runs, so the default keeps some room.
    """

    model_config = SettingsConfigDict(env_prefix="BORDIN_", extra="ignore")

    env: Literal["development", "test", "production"] = "production"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    database_url: str = ""
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_max_failures: int = 10
    login_window_minutes: int = 15
    link_ttl_hours: int = 168
    break_glass_hours: int = Field(default=12, ge=1, le=72)
    cookie_secure: bool | None = None
    monitor_in_process: bool = True
    monitor_interval_seconds: float = 1.0
    worker_threads: int = Field(default=8, ge=1, le=200)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        # Checked here rather than in a pydantic validator so that the error is
        # Bordin's own InputError, not wrapped in pydantic's ValidationError.
        self._refuse_default_secret()

    def _refuse_default_secret(self) -> None:
        secret = self.secret_key.get_secret_value()
        if self.env != "development" and (secret == DEFAULT_SECRET or len(secret) < 32):
            raise InputError(
                field="BORDIN_SECRET_KEY",
                value="<default or shorter than 32 characters>",
                allowed="a random secret of at least 32 characters outside development "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')",
            )

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the ``Secure`` flag (off only in development and tests)."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.env == "production"
