"""The staff admin on the demo clinic, for every staff login: every dashboard figure is the count of the list
it links to, and every demo patient's page opens, with nothing clinical for front desk. Covers the tiles and
sections every app registers, on the data a newcomer sees with `make run`."""

import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from clinic.accounts.models import User
from clinic.accounts.seeding import DEMO_FACILITY
from patients.models import Patient

STAFF_LOGINS = ["physician", "nurse", "counselor", "casemanager", "frontdesk", "clinicadmin", "othernurse"]
# Sections with clinical content; front desk sees demographics, contacts, the stage and the calendar only.
CLINICAL_SECTIONS = {
    "Alerts",
    "Latest scores",
    "Assessment",
    "Clinical record",
    "Detox",
    "Medications and MAR",
    "Treatment plan",
    "Progress notes",
    "Relapse-prevention plan",
    "Aftercare check-ins",
}


@pytest.fixture
def demo(db):
    call_command("seed_demo", stdout=io.StringIO())


def _client(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def _check_figures(username: str) -> None:
    client = _client(username)
    response = client.get("/admin/")
    assert response.status_code == 200
    tiles = [tile for _, group in response.context["tile_groups"] for tile in group]
    assert tiles, f"{username} sees an empty dashboard"
    for tile in tiles:
        for label, figure, url in [(tile.title, tile.figure, tile.url)] + [
            (f"{tile.title}: {part.label}", part.figure, part.url) for part in tile.breakdown
        ]:
            if url:
                listed = client.get(url)
                assert listed.status_code == 200, (username, label, url)
                assert listed.context["cl"].result_count == figure, (username, label, url)


def _check_patient_pages(username: str) -> None:
    client = _client(username)
    user = User.objects.get(username=username)
    for patient in Patient.objects.filter(facility__name=DEMO_FACILITY):
        response = client.get(reverse("admin:patient_overview", args=[patient.pk]))
        if patient.facility_id not in user.facility_ids():
            assert response.status_code == 302, (username, patient.mrn)
            continue
        assert response.status_code == 200, (username, patient.mrn)
        titles = {section.title for section, _ in response.context["sections"]}
        assert "Patient" in titles
        if username == "frontdesk":
            assert not titles & CLINICAL_SECTIONS, (patient.mrn, titles & CLINICAL_SECTIONS)


def test_every_figure_is_the_count_of_its_list_and_every_patient_page_opens(demo):
    """One test for every login: seeding the whole demo clinic is the expensive part."""
    for username in STAFF_LOGINS:
        _check_figures(username)
        _check_patient_pages(username)
