"""Alerts: acknowledging them with optimistic concurrency."""
