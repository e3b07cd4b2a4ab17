"""A working day in the staff admin, in a real browser, on the demo clinic: sign in, read the dashboard and
follow a figure to its list, find a patient and read their page, move them to the next stage (after a
refused attempt), and acknowledge an alert. The expected figures are read from the database, so the walk
holds whatever the demo data contains."""

import re

import pytest
from playwright.sync_api import expect

from clinic.accounts.seeding import DEMO_FACILITY
from clinic.audit.models import AuditEvent
from patients.models import Patient
from treatment.models import Alert, Episode, EpisodeTransition, Stage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _tile_figure(page, title: str):
    return page.locator(f'.tile[data-tile="{title}"] .tile-figure')


def _patient_in_detox() -> Patient:
    """A demo patient in detox with withdrawal scores (the seeding records COWS for them)."""
    patient = (
        Patient.objects.filter(
            facility__name=DEMO_FACILITY,
            episodes__closed_at__isnull=True,
            episodes__stage=Stage.DETOX,
            episodes__observations__instrument="cows",
        )
        .distinct()
        .first()
    )
    assert patient is not None, "the demo data has nobody in detox"
    return patient


def test_nurse_reads_the_dashboard_finds_a_patient_and_moves_them_on(login, page, screenshot):
    """One walk (seeding the demo clinic is the expensive part): dashboard, a figure's list, the patient page,
    a refused transition and a done one."""
    in_detox = Episode.objects.filter(
        patient__facility__name=DEMO_FACILITY, closed_at__isnull=True, stage=Stage.DETOX
    ).count()
    critical = Alert.objects.filter(
        patient__facility__name=DEMO_FACILITY, acknowledged_at__isnull=True, severity=Alert.Severity.CRITICAL
    ).count()
    assert in_detox, "the demo data should have patients in detox"
    assert critical, "the demo data should have a critical alert"

    # The dashboard: figures as the database has them, each leading to its list.
    login("nurse")
    expect(page.locator("h1")).to_have_text("Today at the clinic")
    expect(_tile_figure(page, "Detox")).to_have_text(str(in_detox))
    expect(_tile_figure(page, "Critical alerts")).to_have_text(str(critical))
    screenshot("dashboard")
    _tile_figure(page, "Detox").click()
    expect(page).to_have_url(re.compile(r"/admin/treatment/episode/\?stage__exact=detox$"))
    expect(page.locator("#result_list tbody tr")).to_have_count(in_detox)

    # Find a patient from the dashboard and read their page.
    patient = _patient_in_detox()
    page.goto("/admin/")
    page.fill("#patient-search-q", patient.last_name)
    page.click(".patient-search input[type=submit]")
    page.locator(".found-patients").get_by_role("link", name=f"{patient.first_name} {patient.last_name}").click()
    expect(page).to_have_url(re.compile(rf"/admin/patients/patient/{patient.pk}/overview/$"))
    for title in ("Patient", "Alerts", "Episode of care", "Latest scores", "Assessment", "Clinical record"):
        expect(page.locator(".overview-section > h2", has_text=re.compile(rf"^{title}$"))).to_have_count(1)
    expect(page.locator("#episode [data-field=stage]")).to_have_text("Detox")
    expect(page.locator("#scores svg.staffadmin-chart").first).to_be_visible()  # the withdrawal chart
    screenshot("patient-page")
    page.locator("#scores").scroll_into_view_if_needed()
    screenshot("patient-scores")
    assert AuditEvent.objects.filter(actor__username="nurse", action="view", patient_id=patient.pk).count() > 5

    # Discharging needs a category and a reason: the service refuses, the page says why, nothing moves.
    episode = Episode.objects.get(patient=patient, closed_at__isnull=True)
    page.select_option("#transition-to", "discharged")
    page.click("#transition-form input[type=submit]")
    expect(page.locator("#action-error")).to_contain_text("Give the reason for this transition.")
    episode.refresh_from_db()
    assert episode.stage == Stage.DETOX

    page.select_option("#transition-to", "therapy")
    page.fill("#transition-reason", "COWS under 5 for 48 hours.")
    page.click("#transition-form input[type=submit]")
    expect(page.locator(".messagelist .success")).to_have_text("Moved to therapy.")
    expect(page.locator("#episode [data-field=stage]")).to_have_text("Therapy")
    screenshot("stage-transition")
    transition = EpisodeTransition.objects.get(episode=episode, to_stage=Stage.THERAPY)
    assert (transition.from_stage, transition.actor.username) == (Stage.DETOX, "nurse")
    assert AuditEvent.objects.filter(action="transition", object_id=str(episode.pk), source="admin").exists()


def test_physician_acknowledges_an_alert(login, page, screenshot):
    alert = Alert.objects.filter(
        patient__facility__name=DEMO_FACILITY, acknowledged_at__isnull=True, severity=Alert.Severity.CRITICAL
    ).first()
    assert alert is not None, "the demo data should have a critical alert"
    login("physician")
    page.goto(f"/admin/patients/patient/{alert.patient_id}/overview/")
    row = page.locator(f'#alerts tr[data-alert="{alert.pk}"]')
    expect(row).to_contain_text("Critical")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Alert acknowledged")
    expect(page.locator(f'#alerts tr[data-alert="{alert.pk}"]')).to_have_count(0)
    expect(page.locator("#alerts")).to_contain_text("Recently acknowledged")
    screenshot("alert-acknowledged")
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "physician"
    assert AuditEvent.objects.filter(action="acknowledge", object_id=str(alert.pk), source="admin").exists()
