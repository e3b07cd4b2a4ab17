"""Treatment on the staff admin: the census and alert tiles count what their lists show, in a constant number
of queries; the patient page shows the episode, alerts and scores with the withdrawal chart to those who may
see them; its stage transition and alert acknowledgement go through the services, and a refusal is shown."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.audit.models import AuditEvent
from patients.tests.factories import PatientFactory
from treatment import services
from treatment.models import Alert, Episode, EpisodeTransition, Stage
from treatment.tests.conftest import responses_totalling


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _tiles(response) -> dict:
    return {tile.title: tile for _, tiles in response.context["tile_groups"] for tile in tiles}


def _action(patient, name: str) -> str:
    return reverse("admin:patient_overview_action", args=[patient.pk, name])


def _overview(patient) -> str:
    return reverse("admin:patient_overview", args=[patient.pk])


@pytest.fixture
def clinic_day(episode_in, facility, other_facility, physician):
    """Patients in several stages with a critical alert, and another facility's patient in detox."""
    in_detox = [episode_in(Stage.DETOX, PatientFactory(facility=facility)) for _ in range(2)]
    in_therapy = episode_in(Stage.THERAPY, PatientFactory(facility=facility))
    elsewhere = episode_in(Stage.DETOX, PatientFactory(facility=other_facility))
    services.alert_raise(
        patient=in_detox[0].patient, episode=in_detox[0], kind="test", severity="critical", reason="Check now.",
        target_role="nurse",
    )  # fmt: skip
    services.alert_raise(
        patient=elsewhere.patient, episode=elsewhere, kind="test", severity="critical", reason="Elsewhere.",
        target_role="nurse",
    )  # fmt: skip
    return {"in_detox": in_detox, "in_therapy": in_therapy, "elsewhere": elsewhere}


def test_each_figure_is_the_count_of_the_list_it_links_to(clinic_day, staff):
    client = _client(staff["nurse"])
    tiles = _tiles(client.get("/admin/"))
    assert tiles["Detox"].figure == 2
    assert tiles["Therapy"].figure == 1
    assert tiles["Critical alerts"].figure == 1
    assert tiles["Alerts for your role"].figure == 1
    for tile in tiles.values():
        links = [(tile.title, tile.figure, tile.url), *((part.label, part.figure, part.url) for part in tile.breakdown)]
        for label, figure, url in links:
            if not url:
                continue
            listed = client.get(url)
            assert listed.status_code == 200, (label, url)
            assert listed.context["cl"].result_count == figure, (label, url)


def test_front_desk_sees_the_census_but_no_alerts(clinic_day, staff):
    tiles = _tiles(_client(staff["front_desk"]).get("/admin/"))
    assert tiles["Detox"].figure == 2
    assert tiles["Detox"].url == ""  # the episode list (care team, transitions) is clinical
    assert "Critical alerts" not in tiles


def test_the_dashboard_reads_a_constant_number_of_queries(episode_in, facility, staff):
    client = _client(staff["nurse"])
    client.get("/admin/")  # warm the session and caches
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/")
    for _ in range(4):
        episode_in(Stage.DETOX, PatientFactory(facility=facility))
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/")
    assert len(many) == len(few)


def test_the_patient_page_shows_the_episode_alerts_and_the_withdrawal_chart(clinic_day, staff, nurse):
    episode = clinic_day["in_detox"][0]
    services.observation_record(
        actor=nurse, episode=episode, instrument="cows", responses=responses_totalling("cows", 28)
    )
    response = _client(nurse).get(_overview(episode.patient))
    assert response.status_code == 200
    titles = [section.title for section, _ in response.context["sections"]]
    assert titles[:5] == ["Patient", "Alerts", "Episode of care", "Latest scores", "Assessment"]
    html = response.content.decode()
    assert 'data-field="stage">Detox<' in html
    assert 'class="staffadmin-chart"' in html
    assert "alert at 25" in html
    assert "Check now." in html
    read = set(
        AuditEvent.objects.filter(actor=nurse, action="view", patient_id=episode.patient_id).values_list(
            "model", flat=True
        )
    )
    assert {"patients.patient", "treatment.episode", "treatment.alert", "treatment.observation"} <= read


def test_front_desk_sees_the_stage_but_nothing_clinical(clinic_day, staff):
    episode = clinic_day["in_detox"][0]
    response = _client(staff["front_desk"]).get(_overview(episode.patient))
    titles = [section.title for section, _ in response.context["sections"]]
    assert "Episode of care" in titles
    assert not {"Alerts", "Latest scores", "Assessment", "Clinical record"} & set(titles)
    html = response.content.decode()
    assert "Stage history" not in html
    assert "transition-form" not in html
    assert "Check now." not in html


def test_the_patient_page_reads_a_constant_number_of_queries(episode_in, facility, staff, nurse):
    episode = episode_in(Stage.DETOX, PatientFactory(facility=facility))
    client = _client(staff["nurse"])

    def record(total: int):
        responses = responses_totalling("cows", total)
        services.observation_record(actor=nurse, episode=episode, instrument="cows", responses=responses)

    record(28)  # one score, one alert: every kind of row the page shows
    client.get(_overview(episode.patient))
    with CaptureQueriesContext(connection) as few:
        client.get(_overview(episode.patient))
    for total in (30, 14, 26, 12, 6):
        record(total)
    with CaptureQueriesContext(connection) as many:
        client.get(_overview(episode.patient))
    assert len(many) == len(few)


def test_a_transition_goes_through_the_service(clinic_day, staff):
    episode = clinic_day["in_detox"][1]
    client = _client(staff["nurse"])
    response = client.post(
        _action(episode.patient, "episode-transition"),
        {"episode": str(episode.pk), "to": "therapy", "reason": "Withdrawal resolved."},
        follow=True,
    )
    assert [str(message) for message in response.context["messages"]] == ["Moved to therapy."]
    episode.refresh_from_db()
    assert episode.stage == Stage.THERAPY
    transition = EpisodeTransition.objects.get(episode=episode, to_stage=Stage.THERAPY)
    assert (transition.actor, transition.reason) == (staff["nurse"], "Withdrawal resolved.")
    assert AuditEvent.objects.filter(action="transition", object_id=str(episode.pk), source="admin").exists()


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"to": "discharged"}, 400, "Give the reason for this transition."),
        ({"to": "aftercare"}, 409, "An episode in detox cannot move to aftercare."),
        ({"to": "therapy", "episode": "not-an-id"}, 404, "Not found."),
    ],
)
def test_a_refused_transition_shows_why_and_moves_nothing(clinic_day, staff, data, status, message):
    episode = clinic_day["in_detox"][1]
    response = _client(staff["nurse"]).post(
        _action(episode.patient, "episode-transition"), {"episode": str(episode.pk), **data}
    )
    assert response.status_code == status
    assert response.context["action_error"].message == message
    assert message.encode() in response.content
    episode.refresh_from_db()
    assert episode.stage == Stage.DETOX
    assert not EpisodeTransition.objects.filter(episode=episode, from_stage=Stage.DETOX).exists()


def test_a_nurse_may_not_skip_detox_and_the_form_does_not_offer_it(episode_in, decide, facility, staff):
    episode = Episode.objects.get(pk=episode_in(Stage.ASSESSMENT, PatientFactory(facility=facility)).pk)
    decide(episode)
    client = _client(staff["nurse"])
    moves = next(html for section, html in client.get(_overview(episode.patient)).context["sections"]
                 if section.title == "Episode of care")  # fmt: skip
    assert 'value="detox"' in moves
    assert 'value="therapy"' not in moves
    response = client.post(
        _action(episode.patient, "episode-transition"), {"episode": str(episode.pk), "to": "therapy"}
    )
    assert response.status_code == 403
    episode.refresh_from_db()
    assert episode.stage == Stage.ASSESSMENT


def test_another_facility_cannot_move_or_acknowledge(clinic_day, other_staff):
    episode = clinic_day["in_detox"][0]
    alert = Alert.objects.get(patient=episode.patient)
    client = _client(other_staff["nurse"])
    moved = client.post(_action(episode.patient, "episode-transition"), {"episode": str(episode.pk), "to": "therapy"})
    acknowledged = client.post(_action(episode.patient, "alert-acknowledge"), {"alert": str(alert.pk)})
    assert (moved.status_code, acknowledged.status_code) == (302, 302)
    episode.refresh_from_db()
    alert.refresh_from_db()
    assert episode.stage == Stage.DETOX
    assert alert.acknowledged_at is None
    assert not AuditEvent.objects.filter(actor=other_staff["nurse"]).exclude(action="list").exists()


def test_an_alert_of_another_patient_cannot_be_acknowledged_from_this_page(clinic_day, staff):
    first, second = clinic_day["in_detox"]
    alert = Alert.objects.get(patient=first.patient)
    response = _client(staff["nurse"]).post(_action(second.patient, "alert-acknowledge"), {"alert": str(alert.pk)})
    assert response.status_code == 404
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_acknowledging_goes_through_the_service_once(clinic_day, staff):
    episode = clinic_day["in_detox"][0]
    alert = Alert.objects.get(patient=episode.patient)
    client = _client(staff["nurse"])
    url = _action(episode.patient, "alert-acknowledge")
    done = client.post(url, {"alert": str(alert.pk)}, follow=True)
    assert [str(message) for message in done.context["messages"]] == ["Alert acknowledged: critical test."]
    alert.refresh_from_db()
    assert alert.acknowledged_by == staff["nurse"]
    assert AuditEvent.objects.filter(action="acknowledge", object_id=str(alert.pk), source="admin").exists()
    again = client.post(url, {"alert": str(alert.pk)})
    assert again.status_code == 409
    assert b"This alert has already been acknowledged." in again.content


def test_front_desk_may_not_acknowledge(clinic_day, staff):
    episode = clinic_day["in_detox"][0]
    alert = Alert.objects.get(patient=episode.patient)
    response = _client(staff["front_desk"]).post(
        _action(episode.patient, "alert-acknowledge"), {"alert": str(alert.pk)}
    )
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
