"""Authentication (passwords, sessions, CSRF, throttling) and authorization (the policy)."""
