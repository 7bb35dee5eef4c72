"""Access beyond the caseload: break-glass (emergency) access and its review."""
