"""Input and output shapes of the therapy resources. Inputs only parse; the services hold every rule."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.notifications.templates import short_name
from treatment.api.serializers import StaffField

from ..models import (
    ALL_SECTIONS,
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    GroupNote,
    GroupSession,
    Modality,
    NoteAddendum,
    NoteFormat,
    PlanGoal,
    PlanIntervention,
    PlanObjective,
    PlanProblem,
    PlanReview,
    ProgressNote,
    PsychotherapyNote,
    TherapySession,
    TreatmentPlan,
)

OUTCOMES = [(AttendanceStatus.ATTENDED.value, "Attended"), (AttendanceStatus.NO_SHOW.value, "No-show")]


def _name(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def _section(**kwargs):
    return serializers.CharField(required=False, allow_blank=True, default="", max_length=20000, **kwargs)


# --- Treatment plans -----------------------------------------------------------------------------------


class ObjectiveInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="An existing objective's id; leave out to add one.")
    description = serializers.CharField(max_length=5000)
    target_date = serializers.DateField()
    status = serializers.ChoiceField(choices=PlanObjective.Status.choices, required=False)


class GoalInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="An existing goal's id; leave out to add one.")
    statement = serializers.CharField(max_length=5000, help_text="Specific, achievable, relevant.")
    measure = serializers.CharField(max_length=300, help_text="Measurable: how progress is measured.")
    target_date = serializers.DateField(help_text="Time-bound: the date it is due by.")
    objectives = ObjectiveInputSerializer(many=True, required=False)


class ProblemInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="An existing problem's id; leave out to add one.")
    description = serializers.CharField(max_length=5000)
    goals = GoalInputSerializer(many=True, required=False)


class InterventionInputSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="An existing intervention's id; leave out to add one.")
    kind = serializers.ChoiceField(choices=Modality.choices)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    frequency = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)


class TreatmentPlanUpdateSerializer(serializers.Serializer):
    """Lists given replace the plan's: rows with their `id` are kept and updated, rows left out removed."""

    review_interval_days = serializers.IntegerField(min_value=1, max_value=365, required=False)
    problems = ProblemInputSerializer(many=True, required=False)
    interventions = InterventionInputSerializer(many=True, required=False)


class TreatmentPlanCreateSerializer(TreatmentPlanUpdateSerializer):
    episode = serializers.UUIDField()


class PlanReviewInputSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=10000)


class ObjectiveOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanObjective
        fields = ["id", "description", "target_date", "status"]


class GoalOutputSerializer(serializers.ModelSerializer):
    objectives = ObjectiveOutputSerializer(many=True, read_only=True)

    class Meta:
        model = PlanGoal
        fields = ["id", "statement", "measure", "target_date", "objectives"]


class ProblemOutputSerializer(serializers.ModelSerializer):
    goals = GoalOutputSerializer(many=True, read_only=True)

    class Meta:
        model = PlanProblem
        fields = ["id", "description", "goals"]


class InterventionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanIntervention
        fields = ["id", "kind", "description", "frequency"]


class PlanReviewOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlanReview
        fields = ["id", "reviewed_by", "reviewed_at", "summary", "next_review_at"]


class TreatmentPlanOutputSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="episode.patient_id", read_only=True)
    review_due = serializers.SerializerMethodField(help_text="The next review is due (or overdue).")
    problems = ProblemOutputSerializer(many=True, read_only=True)
    interventions = InterventionOutputSerializer(many=True, read_only=True)
    reviews = PlanReviewOutputSerializer(many=True, read_only=True)

    class Meta:
        model = TreatmentPlan
        fields = [
            "id",
            "episode",
            "patient",
            "review_interval_days",
            "next_review_at",
            "review_due",
            "last_reviewed_at",
            "problems",
            "interventions",
            "reviews",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_review_due(self, plan) -> bool:
        return plan.next_review_at <= self.context["now"]


# --- Sessions ------------------------------------------------------------------------------------------


class SessionCreateSerializer(serializers.Serializer):
    episode = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=TherapySession.Kind.choices, default=TherapySession.Kind.INDIVIDUAL)
    modality = serializers.ChoiceField(choices=Modality.choices)
    counselor = StaffField(help_text="A counselor or physician of the patient's facility.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    location = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    telehealth_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=200)
    family_participants = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)


class SessionUpdateSerializer(serializers.Serializer):
    """Reschedule a scheduled session: its appointment and reminders follow."""

    modality = serializers.ChoiceField(choices=Modality.choices, required=False)
    counselor = StaffField(required=False)
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)
    location = serializers.CharField(required=False, allow_blank=True, max_length=200)
    telehealth_url = serializers.URLField(required=False, allow_blank=True, max_length=200)
    family_participants = serializers.CharField(required=False, allow_blank=True, max_length=300)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    late = serializers.BooleanField(
        required=False, default=False, help_text="Cancelled by the patient inside the late-cancellation window."
    )


class AttendanceInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OUTCOMES)


class SessionOutputSerializer(serializers.ModelSerializer):
    counselor_name = serializers.SerializerMethodField()

    class Meta:
        model = TherapySession
        fields = [
            "id",
            "episode",
            "patient",
            "kind",
            "modality",
            "counselor",
            "counselor_name",
            "starts_at",
            "ends_at",
            "location",
            "telehealth_url",
            "family_participants",
            "status",
            "cancelled_at",
            "cancellation_reason",
            "attendance_recorded_at",
            "appointment",
            "created_at",
            "updated_at",
        ]

    def get_counselor_name(self, session) -> str:
        return _name(session.counselor)


# --- Group sessions ------------------------------------------------------------------------------------


class GroupSessionUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=120, required=False)
    modality = serializers.ChoiceField(choices=Modality.choices, required=False)
    facilitator = StaffField(required=False, help_text="A counselor or physician of the facility.")
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)
    capacity = serializers.IntegerField(min_value=1, max_value=100, required=False)
    location = serializers.CharField(required=False, allow_blank=True, max_length=200)
    telehealth_url = serializers.URLField(required=False, allow_blank=True, max_length=200)


class GroupSessionCreateSerializer(serializers.Serializer):
    facility = serializers.UUIDField(required=False, help_text="Required when you work in several facilities.")
    title = serializers.CharField(max_length=120)
    modality = serializers.ChoiceField(choices=Modality.choices)
    facilitator = StaffField(help_text="A counselor or physician of the facility.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    capacity = serializers.IntegerField(min_value=1, max_value=100)
    location = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    telehealth_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=200)


class RosterAddSerializer(serializers.Serializer):
    patient = serializers.UUIDField()


class RosterRemoveSerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    late = serializers.BooleanField(required=False, default=False)


class AttendanceEntrySerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    status = serializers.ChoiceField(choices=OUTCOMES)


class GroupAttendanceInputSerializer(serializers.Serializer):
    attendance = AttendanceEntrySerializer(many=True, allow_empty=False)

    def validate_attendance(self, entries):
        patients = [entry["patient"] for entry in entries]
        if len(set(patients)) != len(patients):
            raise serializers.ValidationError("Name each patient once.")
        return entries


class RosterEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = GroupAttendance
        fields = ["id", "patient", "episode", "status", "appointment", "recorded_at", "created_at", "updated_at"]


class GroupSessionOutputSerializer(serializers.ModelSerializer):
    facilitator_name = serializers.SerializerMethodField()
    places_taken = serializers.SerializerMethodField(help_text="Roster entries not cancelled.")
    roster = RosterEntrySerializer(many=True, read_only=True)

    class Meta:
        model = GroupSession
        fields = [
            "id",
            "facility",
            "title",
            "modality",
            "facilitator",
            "facilitator_name",
            "starts_at",
            "ends_at",
            "location",
            "telehealth_url",
            "capacity",
            "places_taken",
            "status",
            "cancelled_at",
            "cancellation_reason",
            "roster",
            "created_at",
            "updated_at",
        ]

    def get_facilitator_name(self, group) -> str:
        return _name(group.facilitator)

    def get_places_taken(self, group) -> int:
        cancelled = (AttendanceStatus.CANCELLED, AttendanceStatus.LATE_CANCELLED)
        return sum(1 for entry in group.roster.all() if entry.status not in cancelled)


# --- Group notes ---------------------------------------------------------------------------------------


class GroupNotePartInputSerializer(serializers.Serializer):
    patient = serializers.UUIDField(help_text="An attendee (attended).")
    participation = serializers.ChoiceField(
        choices=ProgressNote.Participation.choices, required=False, allow_blank=True, default=""
    )
    subjective = _section()
    objective = _section()
    data = _section()
    assessment = _section()
    plan = _section()


class GroupNoteInputSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=NoteFormat.choices)
    summary = serializers.CharField(
        allow_blank=True,
        max_length=20000,
        help_text="The shared part, copied into every attendee's chart: the topic and the group's work. "
        "Name no attendee.",
    )
    parts = GroupNotePartInputSerializer(many=True, help_text="One per attendee: their participation and progress.")


class GroupNoteSignSerializer(serializers.Serializer):
    names_reviewed = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Confirm that a text flagged as naming another attendee is not about that person.",
    )


class GroupNotePartOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProgressNote
        fields = ["id", "patient", "episode", "participation", *ALL_SECTIONS, "signed_at"]


class GroupNoteOutputSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    parts = GroupNotePartOutputSerializer(many=True, read_only=True)

    class Meta:
        model = GroupNote
        fields = [
            "id",
            "group_session",
            "format",
            "summary",
            "author",
            "status",
            "signed_at",
            "parts",
            "created_at",
            "updated_at",
        ]

    def get_status(self, note) -> str:
        return "signed" if note.is_signed else "draft"


# --- Appointments --------------------------------------------------------------------------------------


class AppointmentCreateSerializer(serializers.Serializer):
    """A booking that is not a session or a check-in (those are booked through their own resource)."""

    patient = serializers.UUIDField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    with_staff = StaffField(required=False, allow_null=True, default=None)
    location = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    telehealth_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=200)


class AppointmentCancelSerializer(serializers.Serializer):
    late = serializers.BooleanField(required=False, default=False)


class AppointmentPatientSerializer(serializers.ModelSerializer):
    """What a patient sees of their own appointment: when, where, with whom (a short name)."""

    with_staff_name = serializers.SerializerMethodField()

    class Meta:
        model = Appointment
        fields = [
            "id",
            "patient",
            "kind",
            "starts_at",
            "ends_at",
            "with_staff_name",
            "location",
            "telehealth_url",
            "status",
            "cancelled_at",
            "created_at",
            "updated_at",
        ]

    def get_with_staff_name(self, appointment) -> str:
        staff = appointment.with_staff
        return short_name(staff.first_name, staff.last_name) if staff is not None and staff.last_name else ""


class AppointmentOutputSerializer(AppointmentPatientSerializer):
    """The staff's view: also who it is with and what it was booked for."""

    class Meta(AppointmentPatientSerializer.Meta):
        fields = [*AppointmentPatientSerializer.Meta.fields, "with_staff", "subject_type", "subject_id"]


# --- Progress notes ------------------------------------------------------------------------------------


class ProgressNoteCreateSerializer(serializers.Serializer):
    session = serializers.UUIDField(help_text="An attended individual or family session.")
    format = serializers.ChoiceField(choices=NoteFormat.choices)
    subjective = _section()
    objective = _section()
    data = _section()
    assessment = _section()
    plan = _section()


class ProgressNoteUpdateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=NoteFormat.choices, required=False)
    subjective = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    objective = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    data = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    assessment = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    plan = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    participation = serializers.ChoiceField(
        choices=ProgressNote.Participation.choices, required=False, allow_blank=True
    )


class AddendumInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)


class AddendumOutputSerializer(serializers.ModelSerializer):
    author_name = serializers.SerializerMethodField()

    class Meta:
        model = NoteAddendum
        fields = ["id", "note", "text", "author", "author_name", "signed_at", "created_at"]

    def get_author_name(self, addendum) -> str:
        return _name(addendum.author)


class GroupSharedPartSerializer(serializers.Serializer):
    """The group note's shared part, as each attendee's chart shows it (never another attendee's part)."""

    group_session = serializers.UUIDField(source="group_session_id")
    title = serializers.CharField(source="group_session.title")
    starts_at = serializers.DateTimeField(source="group_session.starts_at")
    summary = serializers.CharField()


class ProgressNoteOutputSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="draft or signed")
    author_name = serializers.SerializerMethodField()
    group = serializers.SerializerMethodField()
    addenda = AddendumOutputSerializer(many=True, read_only=True)

    class Meta:
        model = ProgressNote
        fields = [
            "id",
            "patient",
            "episode",
            "session",
            "group",
            "format",
            *ALL_SECTIONS,
            "participation",
            "author",
            "author_name",
            "status",
            "signed_at",
            "addenda",
            "created_at",
            "updated_at",
        ]

    def get_author_name(self, note) -> str:
        return _name(note.author)

    @extend_schema_field(GroupSharedPartSerializer(allow_null=True))
    def get_group(self, note):
        if note.group_note_id is None:
            return None
        return GroupSharedPartSerializer(note.group_note).data


# --- Psychotherapy notes -------------------------------------------------------------------------------


class PsychotherapyNoteCreateSerializer(serializers.Serializer):
    episode = serializers.UUIDField()
    session = serializers.UUIDField(required=False, allow_null=True, default=None)
    content = serializers.CharField(max_length=50000)


class PsychotherapyNoteUpdateSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=50000)


class PsychotherapyNoteOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PsychotherapyNote
        fields = ["id", "patient", "episode", "session", "content", "author", "created_at", "updated_at"]
