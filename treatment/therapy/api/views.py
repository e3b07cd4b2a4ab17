"""Therapy resources: treatment-plans, sessions, group-sessions (roster, attendance, group note),
appointments, progress-notes (sign, addenda) and psychotherapy-notes. Views parse, call one service or
selector, and serialise; every rule is in treatment.therapy.services."""

import django_filters
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from clinic.accounts.roles import Role
from clinic.api.filters import SyncFilterSet, UtcDateTimeFilter
from clinic.api.views import ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet
from clinic.errors import NotFound
from patients.selectors import patient_get
from treatment.selectors import episode_list

from .. import selectors, services
from ..models import (
    Appointment,
    AttendanceStatus,
    GroupSession,
    Modality,
    ProgressNote,
    PsychotherapyNote,
    TherapySession,
    TreatmentPlan,
)
from . import serializers as s

DOUBLE_BOOKED = OpenApiResponse(
    description="`double_booked`: the staff member or a patient is already booked at an overlapping time; "
    "`error.details.conflicts` lists each booking (resource, id, booked: staff or patient, starts_at, ends_at)."
)


def _visible(queryset, pk, what: str):
    """A record the caller may see, by an id from a request body; otherwise 404 like a missing one."""
    found = queryset.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise NotFound(f"{what} not found.")
    return found


class CalendarFilter(SyncFilterSet):
    starts_after = UtcDateTimeFilter(field_name="starts_at", lookup_expr="gte", label="Starts at or after.")
    starts_before = UtcDateTimeFilter(field_name="starts_at", lookup_expr="lt", label="Starts before.")


# --- Treatment plans -----------------------------------------------------------------------------------


class TreatmentPlanFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="episode__patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    review_due = django_filters.BooleanFilter(method="filter_review_due", label="Only plans whose review is due.")

    class Meta:
        model = TreatmentPlan
        fields = ["patient", "episode", "review_due", "updated_since"]

    def filter_review_due(self, queryset, name, value):
        due = {"next_review_at__lte": timezone.now()}
        return queryset.filter(**due) if value else queryset.exclude(**due)


class TreatmentPlanViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """One plan per episode: problems, SMART goals with objectives, interventions; reviewed at an interval
    (30 days by default), the primary counselor being reminded when a review is due."""

    queryset = selectors.treatment_plan_queryset()
    serializer_class = s.TreatmentPlanCreateSerializer
    output_serializer_class = s.TreatmentPlanOutputSerializer
    filterset_class = TreatmentPlanFilter
    action_permissions = {
        "list": "treatment_plan.view",
        "retrieve": "treatment_plan.view",
        "create": "treatment_plan.change",
        "partial_update": "treatment_plan.change",
        "review": "treatment_plan.change",
    }

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _output(self, plan: TreatmentPlan, *, status: int = 200) -> Response:
        return self.output(selectors.treatment_plan_queryset().get(pk=plan.pk), status=status)

    @extend_schema(request=s.TreatmentPlanCreateSerializer, responses={201: s.TreatmentPlanOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.TreatmentPlanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = _visible(episode_list(actor=request.user), data.pop("episode"), "Episode")
        plan = services.treatment_plan_create(actor=request.user, episode=episode, **data)
        return self._output(plan, status=201)

    @extend_schema(request=s.TreatmentPlanUpdateSerializer, responses={200: s.TreatmentPlanOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        plan = self.get_object()
        serializer = s.TreatmentPlanUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        plan = services.treatment_plan_update(actor=request.user, plan=plan, data=dict(serializer.validated_data))
        return self._output(plan)

    @extend_schema(request=s.PlanReviewInputSerializer, responses={200: s.TreatmentPlanOutputSerializer})
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Record a review; the next one is due one interval from now."""
        plan = self.get_object()
        serializer = s.PlanReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.treatment_plan_review(actor=request.user, plan=plan, summary=serializer.validated_data["summary"])
        return self._output(plan)


# --- Sessions ------------------------------------------------------------------------------------------


class SessionFilter(CalendarFilter):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    counselor = django_filters.NumberFilter(field_name="counselor_id")
    kind = django_filters.ChoiceFilter(choices=TherapySession.Kind.choices)
    modality = django_filters.ChoiceFilter(choices=Modality.choices)
    status = django_filters.ChoiceFilter(choices=AttendanceStatus.choices)

    class Meta:
        model = TherapySession
        fields = ["patient", "episode", "counselor", "kind", "modality", "status", "starts_after", "starts_before"]


@extend_schema_view(create=extend_schema(responses={201: s.SessionOutputSerializer, 409: DOUBLE_BOOKED}))
class SessionViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Individual and family sessions. Booking one books the patient's appointment and its reminders."""

    queryset = selectors.therapy_session_queryset()
    serializer_class = s.SessionCreateSerializer
    output_serializer_class = s.SessionOutputSerializer
    filterset_class = SessionFilter
    action_permissions = {
        "list": "session.view",
        "retrieve": "session.view",
        "create": "session.schedule",
        "partial_update": "session.schedule",
        "cancel": "session.cancel",
        "attendance": "session.record_attendance",
    }

    def create(self, request, *args, **kwargs):
        serializer = s.SessionCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = _visible(episode_list(actor=request.user), data.pop("episode"), "Episode")
        session = services.session_schedule(actor=request.user, episode=episode, **data)
        return self.output(session, status=201)

    @extend_schema(request=s.SessionUpdateSerializer, responses={200: s.SessionOutputSerializer, 409: DOUBLE_BOOKED})
    def partial_update(self, request, *args, **kwargs):
        """Reschedule a scheduled session (time, counselor, place, modality)."""
        session = self.get_object()
        serializer = s.SessionUpdateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        session = services.session_update(actor=request.user, session=session, data=dict(serializer.validated_data))
        return self.output(session)

    @extend_schema(request=s.CancelSerializer, responses={200: s.SessionOutputSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel (or late-cancel) the session; its appointment and pending reminders go with it."""
        session = self.get_object()
        serializer = s.CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_cancel(actor=request.user, session=session, **serializer.validated_data)
        return self.output(session)

    @extend_schema(request=s.AttendanceInputSerializer, responses={200: s.SessionOutputSerializer})
    @action(detail=True, methods=["post"])
    def attendance(self, request, pk=None):
        """Record whether the patient came (attended or no_show), once the session has started."""
        session = self.get_object()
        serializer = s.AttendanceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.session_record_attendance(
            actor=request.user, session=session, status=serializer.validated_data["status"]
        )
        return self.output(session)


# --- Group sessions ------------------------------------------------------------------------------------


class GroupSessionFilter(CalendarFilter):
    facility = django_filters.UUIDFilter(field_name="facility_id")
    facilitator = django_filters.NumberFilter(field_name="facilitator_id")
    modality = django_filters.ChoiceFilter(choices=Modality.choices)
    status = django_filters.ChoiceFilter(choices=GroupSession.Status.choices)
    patient = django_filters.UUIDFilter(field_name="roster__patient_id", distinct=True, label="Rostered patient.")

    class Meta:
        model = GroupSession
        fields = ["facility", "facilitator", "modality", "status", "patient", "starts_after", "starts_before"]


@extend_schema_view(create=extend_schema(responses={201: s.GroupSessionOutputSerializer, 409: DOUBLE_BOOKED}))
class GroupSessionViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Group sessions with their facilitator, capacity and roster (attendance per patient), and the group
    note: written once, a shared part plus one part per attendee that lands in that attendee's chart."""

    queryset = selectors.group_session_queryset()
    serializer_class = s.GroupSessionCreateSerializer
    output_serializer_class = s.GroupSessionOutputSerializer
    filterset_class = GroupSessionFilter
    action_permissions = {
        "list": "group_session.view",
        "retrieve": "group_session.view",
        "create": "group_session.schedule",
        "partial_update": "group_session.schedule",
        "cancel": "group_session.cancel",
        "roster": "group_session.manage_roster",
        "roster_remove": "group_session.manage_roster",
        "attendance": "group_session.record_attendance",
        "note": "progress_note.view",
        "note_write": "progress_note.write",
        "note_sign": "progress_note.write",
    }

    def audit_read(self, instances, action: str) -> None:
        """The roster says who attends the group: its entries are audited as read with the group."""
        rows = list(instances)
        roster = [entry for row in rows if isinstance(row, GroupSession) for entry in row.roster.all()]
        super().audit_read([*rows, *roster], action)

    def _output(self, group: GroupSession, *, status: int = 200) -> Response:
        return self.output(selectors.group_session_queryset().get(pk=group.pk), status=status)

    def create(self, request, *args, **kwargs):
        serializer = s.GroupSessionCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        facility = services.actor_facility(actor=request.user, facility_id=data.pop("facility", None))
        group = services.group_session_schedule(actor=request.user, facility=facility, **data)
        return self._output(group, status=201)

    @extend_schema(
        request=s.GroupSessionUpdateSerializer, responses={200: s.GroupSessionOutputSerializer, 409: DOUBLE_BOOKED}
    )
    def partial_update(self, request, *args, **kwargs):
        """Change a scheduled group; a new time is checked against the facilitator and every rostered patient."""
        group = self.get_object()
        serializer = s.GroupSessionUpdateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        group = services.group_session_update(actor=request.user, group=group, data=dict(serializer.validated_data))
        return self._output(group)

    @extend_schema(request=s.CancelSerializer, responses={200: s.GroupSessionOutputSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel the group: every place on the roster, with its appointment and reminders."""
        group = self.get_object()
        serializer = s.CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = services.group_session_cancel(
            actor=request.user, group=group, reason=serializer.validated_data["reason"]
        )
        return self._output(group)

    @extend_schema(
        request=s.RosterAddSerializer,
        responses={
            200: s.GroupSessionOutputSerializer,
            409: OpenApiResponse(description="`group_full`, `already_on_roster` or `double_booked`."),
        },
    )
    @action(detail=True, methods=["post"])
    def roster(self, request, pk=None):
        """Add a patient (with an open episode) to the roster and to their calendar."""
        group = self.get_object()
        serializer = s.RosterAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = patient_get(actor=request.user, patient_id=serializer.validated_data["patient"])
        services.group_roster_add(actor=request.user, group=group, patient=patient)
        return self._output(group)

    @extend_schema(request=s.RosterRemoveSerializer, responses={200: s.GroupSessionOutputSerializer})
    @action(detail=True, methods=["post"], url_path="roster/remove")
    def roster_remove(self, request, pk=None):
        """Cancel (or late-cancel) a patient's place before the group."""
        group = self.get_object()
        serializer = s.RosterRemoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = patient_get(actor=request.user, patient_id=serializer.validated_data["patient"])
        services.group_roster_remove(
            actor=request.user, group=group, patient=patient, late=serializer.validated_data["late"]
        )
        return self._output(group)

    @extend_schema(request=s.GroupAttendanceInputSerializer, responses={200: s.GroupSessionOutputSerializer})
    @action(detail=True, methods=["post"])
    def attendance(self, request, pk=None):
        """Record who came (attended / no_show per rostered patient); the group is then held."""
        group = self.get_object()
        serializer = s.GroupAttendanceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attendance = {entry["patient"]: entry["status"] for entry in serializer.validated_data["attendance"]}
        services.group_attendance_record(actor=request.user, group=group, attendance=attendance)
        return self._output(group)

    @extend_schema(responses={200: s.GroupNoteOutputSerializer})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def note(self, request, pk=None):
        """The group note as written: the shared part and every attendee's part (clinicians only)."""
        group = self.get_object()
        note = selectors.group_note_for(group)
        if note is None:
            raise NotFound("This group session has no note yet.")
        self.audit_read([note, *note.parts.all()], "view")
        return self.output(note)

    @extend_schema(request=s.GroupNoteInputSerializer, responses={200: s.GroupNoteOutputSerializer})
    @note.mapping.post
    def note_write(self, request, pk=None):
        """Write the group note, or rewrite it while it is a draft (its author only)."""
        group = self.get_object()
        serializer = s.GroupNoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.group_note_write(actor=request.user, group=group, **serializer.validated_data)
        return self.output(selectors.group_note_for(note.group_session))

    @extend_schema(
        request=s.GroupNoteSignSerializer,
        responses={
            200: s.GroupNoteOutputSerializer,
            409: OpenApiResponse(
                description="`note_signed`, or `attendee_named`: a text seems to name another attendee where "
                "it would land in someone else's chart (`error.details.named`: text -> patient ids)."
            ),
        },
    )
    @action(detail=True, methods=["post"], url_path="note/sign")
    def note_sign(self, request, pk=None):
        """Sign the group note and every attendee's part at once (its author only)."""
        group = self.get_object()
        note = selectors.group_note_for(group)
        if note is None:
            raise NotFound("This group session has no note yet.")
        serializer = s.GroupNoteSignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.group_note_sign(actor=request.user, note=note, **serializer.validated_data)
        return self.output(selectors.group_note_for(group))

    def output(self, instance, *, status: int = 200) -> Response:
        if isinstance(instance, GroupSession):
            return super().output(instance, status=status)
        data = s.GroupNoteOutputSerializer(instance, context=self.get_serializer_context()).data
        return Response(data, status=status, headers=self.etag_headers(instance))


# --- Appointments --------------------------------------------------------------------------------------


class AppointmentFilter(CalendarFilter):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    kind = django_filters.ChoiceFilter(choices=Appointment.Kind.choices)
    status = django_filters.ChoiceFilter(choices=AttendanceStatus.choices)
    with_staff = django_filters.NumberFilter(field_name="with_staff_id")

    class Meta:
        model = Appointment
        fields = ["patient", "kind", "status", "with_staff", "starts_after", "starts_before"]


@extend_schema_view(
    list=extend_schema(
        responses=s.AppointmentOutputSerializer,
        description="A patient gets their own appointments (without `with_staff`, `subject_type`, `subject_id`).",
    ),
    retrieve=extend_schema(responses=s.AppointmentOutputSerializer),
)
class AppointmentViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """The patient's calendar: sessions, group places, provider check-ins and other bookings, each with the
    patient's reminders (24 h and 2 h before). A patient sees only theirs."""

    queryset = Appointment.objects.select_related("with_staff")
    serializer_class = s.AppointmentCreateSerializer
    output_serializer_class = s.AppointmentOutputSerializer
    filterset_class = AppointmentFilter
    action_permissions = {
        "list": "appointment.view",
        "retrieve": "appointment.view",
        "create": "appointment.schedule",
        "cancel": "appointment.cancel",
    }

    def get_serializer_class(self):
        if self.action in ("list", "retrieve") and getattr(self.request.user, "role", None) == Role.PATIENT:
            return s.AppointmentPatientSerializer
        return super().get_serializer_class()

    @extend_schema(
        request=s.AppointmentCreateSerializer, responses={201: s.AppointmentOutputSerializer, 409: DOUBLE_BOOKED}
    )
    def create(self, request, *args, **kwargs):
        """Book an appointment that is not a session, a group or a check-in (kind `other`)."""
        serializer = s.AppointmentCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        patient = patient_get(actor=request.user, patient_id=data.pop("patient"))
        appointment = services.appointment_book_other(actor=request.user, patient=patient, **data)
        return self.output(appointment, status=201)

    @extend_schema(
        request=s.AppointmentCancelSerializer,
        responses={
            200: s.AppointmentOutputSerializer,
            409: OpenApiResponse(description="`cancel_through_subject`: cancel its session or group place."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel an appointment booked on its own, with its pending reminders."""
        appointment = self.get_object()
        serializer = s.AppointmentCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        appointment = services.appointment_cancel_other(
            actor=request.user, appointment=appointment, late=serializer.validated_data["late"]
        )
        return self.output(appointment)


# --- Progress notes ------------------------------------------------------------------------------------


class ProgressNoteFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    session = django_filters.UUIDFilter(field_name="session_id")
    group_session = django_filters.UUIDFilter(field_name="group_note__group_session_id")
    author = django_filters.NumberFilter(field_name="author_id")
    status = django_filters.ChoiceFilter(
        choices=[("draft", "Draft"), ("signed", "Signed")], method="filter_status", label="draft or signed"
    )

    class Meta:
        model = ProgressNote
        fields = ["patient", "episode", "session", "group_session", "author", "status", "updated_since"]

    def filter_status(self, queryset, name, value):
        return queryset.filter(signed_at__isnull=value == "draft")


class ProgressNoteViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """A patient's chart notes (DAP or SOAP): of their sessions, and their part of group notes (with the
    group's shared part, never another attendee's). Signed notes are locked; changes are signed addenda."""

    queryset = selectors.progress_note_queryset()
    serializer_class = s.ProgressNoteCreateSerializer
    output_serializer_class = s.ProgressNoteOutputSerializer
    filterset_class = ProgressNoteFilter
    action_permissions = {
        "list": "progress_note.view",
        "retrieve": "progress_note.view",
        "create": "progress_note.write",
        "partial_update": "progress_note.write",
        "sign": "progress_note.write",
        "addenda": "progress_note.write",
    }

    def audit_read(self, instances, action: str) -> None:
        notes = list(instances)
        super().audit_read([*notes, *(addendum for note in notes for addendum in note.addenda.all())], action)

    def _output(self, note: ProgressNote, *, status: int = 200) -> Response:
        return self.output(selectors.progress_note_queryset().get(pk=note.pk), status=status)

    @extend_schema(request=s.ProgressNoteCreateSerializer, responses={201: s.ProgressNoteOutputSerializer})
    def create(self, request, *args, **kwargs):
        """Start the note of an attended individual or family session (one per session)."""
        serializer = s.ProgressNoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        session = _visible(selectors.therapy_session_list(actor=request.user), data.pop("session"), "Session")
        note = services.progress_note_create(actor=request.user, session=session, **data)
        return self._output(note, status=201)

    @extend_schema(
        request=s.ProgressNoteUpdateSerializer,
        responses={200: s.ProgressNoteOutputSerializer, 409: OpenApiResponse(description="`note_signed`.")},
    )
    def partial_update(self, request, *args, **kwargs):
        """Change a draft note (its author only). A signed note is locked: add an addendum instead."""
        note = self.get_object()
        serializer = s.ProgressNoteUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        note = services.progress_note_update(actor=request.user, note=note, data=dict(serializer.validated_data))
        return self._output(note)

    @extend_schema(request=None, responses={200: s.ProgressNoteOutputSerializer})
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        """Sign a complete note (its author only); it is locked from then on."""
        note = services.progress_note_sign(actor=request.user, note=self.get_object())
        return self._output(note)

    @extend_schema(request=s.AddendumInputSerializer, responses={201: s.ProgressNoteOutputSerializer})
    @action(detail=True, methods=["post"])
    def addenda(self, request, pk=None):
        """Add a signed addendum to a signed note."""
        note = self.get_object()
        serializer = s.AddendumInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.addendum_add(actor=request.user, note=note, text=serializer.validated_data["text"])
        return self._output(note, status=201)


# --- Psychotherapy notes -------------------------------------------------------------------------------


class PsychotherapyNoteFilter(SyncFilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    episode = django_filters.UUIDFilter(field_name="episode_id")
    session = django_filters.UUIDFilter(field_name="session_id")

    class Meta:
        model = PsychotherapyNote
        fields = ["patient", "episode", "session", "updated_since"]


class PsychotherapyNoteViewSet(ScopedListMixin, ScopedRetrieveMixin, ScopedViewSet):
    """Psychotherapy (process) notes, apart from the chart: each is read and changed by its author alone."""

    queryset = PsychotherapyNote.objects.all()
    serializer_class = s.PsychotherapyNoteCreateSerializer
    output_serializer_class = s.PsychotherapyNoteOutputSerializer
    filterset_class = PsychotherapyNoteFilter
    action_permissions = {
        "list": "psychotherapy_note.view",
        "retrieve": "psychotherapy_note.view",
        "create": "psychotherapy_note.write",
        "partial_update": "psychotherapy_note.write",
    }

    def get_queryset(self):
        return super().get_queryset().filter(author_id=self.request.user.pk)

    @extend_schema(request=s.PsychotherapyNoteCreateSerializer, responses={201: s.PsychotherapyNoteOutputSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.PsychotherapyNoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        episode = _visible(episode_list(actor=request.user), data.pop("episode"), "Episode")
        session_id = data.pop("session")
        session = None
        if session_id is not None:
            session = _visible(selectors.therapy_session_list(actor=request.user), session_id, "Session")
        note = services.psychotherapy_note_create(actor=request.user, episode=episode, session=session, **data)
        return self.output(note, status=201)

    @extend_schema(request=s.PsychotherapyNoteUpdateSerializer, responses={200: s.PsychotherapyNoteOutputSerializer})
    def partial_update(self, request, *args, **kwargs):
        note = self.get_object()
        serializer = s.PsychotherapyNoteUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.psychotherapy_note_update(
            actor=request.user, note=note, content=serializer.validated_data["content"]
        )
        return self.output(note)


# --- The patient app: my appointments ------------------------------------------------------------------


class MyAppointmentFilter(CalendarFilter):
    when = django_filters.ChoiceFilter(
        choices=[("upcoming", "Upcoming"), ("past", "Past")],
        method="filter_when",
        label="upcoming: ends now or later; past: ended before now.",
    )
    status = django_filters.ChoiceFilter(choices=AttendanceStatus.choices)

    class Meta:
        model = Appointment
        fields = ["when", "status", "starts_after", "starts_before", "updated_since"]

    def filter_when(self, queryset, name, value):
        now = timezone.now()
        return queryset.filter(ends_at__gte=now) if value == "upcoming" else queryset.filter(ends_at__lt=now)


@extend_schema_view(list=extend_schema(responses=s.AppointmentPatientSerializer))
class MyAppointmentViewSet(ScopedListMixin, ScopedViewSet):
    """`me/appointments/`: your calendar, upcoming and past (`when=upcoming|past`): sessions, group sessions,
    follow-up check-ins and other appointments, with when, where and with whom. Cursor pages in the order they
    were booked (stable for offline sync); sort by `starts_at` on the phone."""

    queryset = Appointment.objects.select_related("with_staff")
    serializer_class = s.AppointmentPatientSerializer
    filterset_class = MyAppointmentFilter
    action_permissions = {"list": "my_appointment.view"}

    def get_queryset(self):
        return super().get_queryset().filter(patient__user_id=self.request.user.pk)
