"""A quota preset is added in labplatform/cohorts/presets.py alone: no migration, and the
admin offers it at once."""

import pytest
from django.core.management import call_command

from labplatform.cohorts import presets
from labplatform.cohorts.models import Cohort


@pytest.fixture
def another_preset(monkeypatch):
    extra = presets.QuotaPreset(name="workshop", label="Workshop (one hour)", hard={"pods": "5"})
    monkeypatch.setitem(presets.PRESETS, extra.name, extra)
    return extra


@pytest.mark.django_db
def test_a_new_preset_needs_no_migration(another_preset, capsys):
    call_command("makemigrations", "cohorts", "--check", "--dry-run")  # exits non-zero on a change
    assert "No changes detected" in capsys.readouterr().out


@pytest.mark.django_db
def test_a_new_preset_is_offered_and_accepted(another_preset, admin_client):
    page = admin_client.get("/admin/cohorts/cohort/add/").content.decode()
    assert 'value="workshop"' in page and "Workshop (one hour)" in page
    field = Cohort._meta.get_field("quota_preset")
    field.clean("workshop", None)  # raises ValidationError if it were not a choice
