"""Clinician views: the caseload ordered by attention, and one episode's course."""
