"""A download permission is labelled with the report's name as the report-type list shows it."""

from __future__ import annotations

from jobs.reports import registry
from roles.permissions import BY_KEY, DOWNLOADS, download_permission


def test_every_report_type_has_a_download_permission_named_after_it():
    assert set(DOWNLOADS) == set(registry.REPORT_TYPES)
    for key, rtype in registry.REPORT_TYPES.items():
        assert BY_KEY[download_permission(key)].label == f"Download {rtype.name}", key
