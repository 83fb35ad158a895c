"""Destinations a report is delivered to."""
