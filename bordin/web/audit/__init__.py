"""The audit trail: recording events on the hash chain and verifying it."""
