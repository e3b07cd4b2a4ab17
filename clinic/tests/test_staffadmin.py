"""The staff admin's platform: the registries fail closed, the dashboard and the patient page show what each
role may see of its own facilities, every record on the patient page is audited as read, and the page's
actions run only for the roles the role table allows."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse

from clinic.accounts.roles import Role
from clinic.audit.models import AuditEvent
from clinic.errors import Conflict
from clinic.staffadmin import registry
from clinic.staffadmin.charts import Series, Threshold, line_chart
from clinic.staffadmin.registry import Section, Tile, TileLink
from clinic.tests.factories import UserFactory
from patients.models import Patient
from patients.tests.factories import AllergyFactory, PatientFactory
from treatment.models import Alert
from treatment.tests.factories import AlertFactory


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _overview(patient) -> str:
    return reverse("admin:patient_overview", args=[patient.pk])


@pytest.fixture
def registered():
    """Register test providers and actions for one test, removed afterwards."""
    added = []

    def add(kind, *args, **kwargs):
        getattr(registry, f"register_{kind}")(*args, **kwargs)
        added.append(args[0])

    yield add
    for provider in added:
        registry.unregister(provider)


def test_a_registration_must_name_the_role_table_action():
    with pytest.raises(TypeError):
        registry.register_dashboard_tile(lambda request: [])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="role-table action"):
        registry.register_patient_page_section(lambda request, patient: None, action="")
    with pytest.raises(ValueError, match="severity"):
        Tile(title="x", figure=1, severity="red")


def test_an_action_name_is_registered_once(registered):
    registered("patient_page_action", "test-once", lambda request, patient: "done", action="patient.view")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_patient_page_action("test-once", lambda request, patient: "other", action="patient.view")


def test_tiles_show_only_to_roles_that_may_see_them(registered, staff):
    calls = []

    def provider(request):
        calls.append(request.user.role)
        return [Tile(title="Test figure", figure=7, breakdown=(TileLink("part", 3, "/admin/x/"),))]

    registered("dashboard_tile", provider, action="alert.view")
    nurse = _client(staff["nurse"]).get("/admin/")
    assert b'data-tile="Test figure"' in nurse.content
    assert b"part: 3" in nurse.content
    front_desk = _client(staff["front_desk"]).get("/admin/")
    assert front_desk.status_code == 200
    assert b'data-tile="Test figure"' not in front_desk.content
    assert calls == [Role.NURSE]


def test_the_patient_page_audits_every_record_its_sections_show(registered, staff, patient):
    allergy = AllergyFactory(patient=patient)
    registered(
        "patient_page_section",
        lambda request, p: Section(title="Test section", template="staffadmin/patients/facts.html", records=[allergy]),
        action="patient_clinical.view",
    )
    response = _client(staff["nurse"]).get(_overview(patient))
    assert response.status_code == 200
    assert b"Test section" in response.content
    events = AuditEvent.objects.filter(actor=staff["nurse"], action="view", patient_id=patient.pk, source="admin")
    assert {(event.model, event.object_id) for event in events} >= {
        ("patients.patient", str(patient.pk)),
        ("patients.allergy", str(allergy.pk)),
    }


def test_front_desk_gets_no_section_its_role_may_not_see(registered, staff, patient):
    registered(
        "patient_page_section",
        lambda request, p: Section(title="Clinical test section", template="staffadmin/patients/facts.html"),
        action="observation.view",
    )
    response = _client(staff["front_desk"]).get(_overview(patient))
    assert response.status_code == 200
    assert b"Clinical test section" not in response.content


def test_another_facilitys_patient_page_is_like_a_missing_one(other_staff, patient):
    client = _client(other_staff["nurse"])
    response = client.get(_overview(patient))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    followed = client.get(response["Location"])
    assert b"doesn" in followed.content  # "... doesn't exist. Perhaps it was deleted?"
    assert patient.last_name.encode() not in followed.content
    assert not AuditEvent.objects.filter(patient_id=patient.pk).exists()


def test_patient_accounts_never_get_into_the_admin_even_marked_as_staff(patient):
    patient.user.is_staff = True
    patient.user.save(update_fields=["is_staff"])
    client = _client(patient.user)
    for url in ("/admin/", _overview(patient), "/admin/patients/patient/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/")


def test_actions_are_posted_by_allowed_roles_in_scope_only(registered, staff, other_staff, patient):
    done = []
    registered(
        "patient_page_action",
        "test-action",
        lambda request, p: done.append(p.pk) or "Done it.",
        action="alert.acknowledge",
    )
    url = reverse("admin:patient_overview_action", args=[patient.pk, "test-action"])
    assert _client(staff["nurse"]).get(url).status_code == 405
    assert _client(staff["front_desk"]).post(url).status_code == 403
    assert _client(other_staff["nurse"]).post(url).status_code == 302  # not found: back to the dashboard
    assert done == []
    unknown = reverse("admin:patient_overview_action", args=[patient.pk, "no-such-action"])
    assert _client(staff["nurse"]).post(unknown).status_code == 404

    response = _client(staff["nurse"]).post(url, follow=True)
    assert response.redirect_chain == [(_overview(patient), 302)]
    assert [str(message) for message in response.context["messages"]] == ["Done it."]
    assert done == [patient.pk]


def test_a_refused_action_shows_the_services_message_with_its_status(registered, staff, patient):
    def refuse(request, p):
        raise Conflict("Not now: the episode moved meanwhile.", fields={"to": ["Pick again."]})

    registered("patient_page_action", "test-refused", refuse, action="alert.acknowledge")
    url = reverse("admin:patient_overview_action", args=[patient.pk, "test-refused"])
    response = _client(staff["nurse"]).post(url)
    assert response.status_code == 409
    assert response.context["action_error"].message == "Not now: the episode moved meanwhile."
    assert b"Not now: the episode moved meanwhile." in response.content
    assert b"to: Pick again." in response.content


def test_find_a_patient_searches_the_users_scope_and_audits_what_it_lists(staff, other_staff, patient):
    outsider = PatientFactory(facility=other_staff["nurse"].facilities.first(), last_name=patient.last_name)
    response = _client(staff["nurse"]).get("/admin/", {"q": patient.last_name})
    found = response.context["found"]
    assert [url for _, url in found] == [_overview(patient)]
    assert _overview(outsider).encode() not in response.content
    assert AuditEvent.objects.filter(actor=staff["nurse"], action="list", patient_id=patient.pk).exists()
    assert not AuditEvent.objects.filter(patient_id=outsider.pk).exists()


def test_staff_of_several_facilities_can_narrow_a_list_to_one(facility, other_facility, patient):
    elsewhere = PatientFactory(facility=other_facility)
    both = UserFactory(role=Role.NURSE, facility=facility)
    both.facilities.add(other_facility)
    client = _client(both)
    request = client.get("/admin/").wsgi_request
    url = registry.changelist_url(request, Patient, facility_id=other_facility.pk)
    assert url == f"/admin/patients/patient/?facility__id__exact={other_facility.pk}"  # the list's own filter
    listed = client.get(url).context["cl"].result_list
    assert [row.pk for row in listed] == [elsewhere.pk]
    # Lists without a facility filter of their own get the scoped one, offering only the user's facilities.
    here, there = AlertFactory(patient=patient), AlertFactory(patient=elsewhere)
    alerts = client.get("/admin/treatment/alert/", {"facility": str(other_facility.pk)})
    assert [row.pk for row in alerts.context["cl"].result_list] == [there.pk]
    assert registry.changelist_url(alerts.wsgi_request, Alert, facility_id=facility.pk) == (
        f"/admin/treatment/alert/?facility={facility.pk}"
    )
    assert {row.pk for row in client.get("/admin/treatment/alert/").context["cl"].result_list} == {here.pk, there.pk}
    assert client.get("/admin/treatment/alert/", {"facility": "not-a-facility"}).context["cl"].result_count == 0
    single = _client(UserFactory(role=Role.NURSE, facility=facility))
    ignored = single.get("/admin/treatment/alert/", {"facility": str(other_facility.pk)})
    assert [row.pk for row in ignored.context["cl"].result_list] == [here.pk]  # their scope, whatever is asked


def test_single_facility_staff_get_plain_links(staff):
    request = _client(staff["nurse"]).get("/admin/").wsgi_request
    assert registry.changelist_url(request, Patient, facility_id="x", status__exact="active") == (
        "/admin/patients/patient/?status__exact=active"
    )
    clinic_admin = _client(staff["clinic_admin"]).get("/admin/").wsgi_request
    assert registry.changelist_url(clinic_admin, AuditEvent) == "/admin/audit/auditevent/"
    assert registry.changelist_url(clinic_admin, Patient, status__exact="active") == (
        "/admin/patients/patient/?status__exact=active"
    )
    nurse = _client(staff["front_desk"]).get("/admin/").wsgi_request
    assert registry.changelist_url(nurse, AuditEvent) == ""  # a list the user may not open: no link


def test_the_chart_draws_each_series_with_its_thresholds():
    start = datetime.datetime(2026, 3, 1, 8, tzinfo=datetime.UTC)
    points = [(start + datetime.timedelta(hours=4 * n), total) for n, total in enumerate([9, 28, 14])]
    svg = str(line_chart(series=[Series("COWS", points)], y_max=48, thresholds=[Threshold("alert at 25", 25)]))
    assert svg.startswith("<svg")
    assert svg.count("<circle") == 3
    assert "alert at 25" in svg
    assert "COWS 28 at 2026-03-01 12:00 UTC" in svg
    assert str(line_chart(series=[Series("COWS", [])], y_max=48)) == ""
