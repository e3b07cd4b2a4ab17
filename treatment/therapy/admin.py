"""Admin pages for therapy: a calendar of today's sessions and groups, sessions and groups (the roster inline
with its attendance, and pages to add to the roster and record attendance), appointments, progress notes
with signing and addenda, group notes, treatment plans with their reviews, and psychotherapy notes.

Every write goes through treatment.therapy.services (add/change forms via `ServiceFormMixin`, the rest on
small action pages or admin actions); a service's refusal is shown on the form or as a message.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import role_may
from clinic.admin_scoping import ScopedInline, ScopedModelAdmin
from clinic.audit.services import audit_record_reads
from clinic.errors import DomainError
from clinic.scoping import scope_queryset
from patients.models import Patient
from treatment.admin import ServiceFormMixin, _action_page, _change_url, _show_error
from treatment.models import Episode

from . import selectors, services
from .models import (
    ALL_SECTIONS,
    CANCELLED_STATUSES,
    Appointment,
    AttendanceStatus,
    GroupAttendance,
    GroupNote,
    GroupSession,
    NoteAddendum,
    ProgressNote,
    PsychotherapyNote,
    TherapySession,
    TreatmentPlan,
)


def _may(request, action: str) -> bool:
    return role_may(getattr(request.user, "role", None), action)


def _therapists(user: User):
    roles = sorted(services.THERAPIST_ROLES)
    return User.objects.filter(role__in=roles, is_active=True, facilities__in=user.facility_ids()).distinct()


def _open_episodes(user: User):
    return scope_queryset(Episode.objects.filter(closed_at__isnull=True).select_related("patient"), user)


def _zone(request) -> zoneinfo.ZoneInfo:
    """The time zone of the user's (first) facility: "today" is the clinic's day."""
    name = request.user.facilities.order_by("name").values_list("timezone", flat=True).first()
    return zoneinfo.ZoneInfo(name or "UTC")


def _day_bounds(request, offset_days: int = 0, days: int = 1) -> tuple[datetime, datetime]:
    zone = _zone(request)
    start_day = timezone.now().astimezone(zone).date() + timedelta(days=offset_days)
    start = datetime.combine(start_day, time.min, tzinfo=zone)
    end = datetime.combine(start_day + timedelta(days=days), time.min, tzinfo=zone)
    return start, end


def _local(request, moment: datetime) -> str:
    return moment.astimezone(_zone(request)).strftime("%H:%M")


class AuditedInlinesMixin:
    """A change page also shows rows of other records inline (a roster, a note's parts or addenda): each one
    shown is audited as read, like the page's own record."""

    def inline_records(self, obj) -> list:
        raise NotImplementedError

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and request.method == "GET":
            audit_record_reads(actor=request.user, action="view", instances=self.inline_records(obj))
        return obj


def _run_each(model_admin, request, rows, work, done: str) -> None:
    """Run a service on each selected row: count what worked, report each refusal."""
    succeeded = 0
    for row in rows:
        try:
            work(row)
        except DomainError as error:
            model_admin.message_user(request, f"{row}: {error.message}", messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        model_admin.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)


class DayFilter(admin.SimpleListFilter):
    """A calendar's days, in the clinic's time zone (the "Today" page shows today's sessions and groups)."""

    title = "day"
    parameter_name = "day"
    DAYS = {"today": (0, 1), "tomorrow": (1, 1), "week": (0, 7), "yesterday": (-1, 1)}

    def lookups(self, request, model_admin):
        return [("today", "Today"), ("tomorrow", "Tomorrow"), ("week", "Next 7 days"), ("yesterday", "Yesterday")]

    def queryset(self, request, queryset):
        if self.value() not in self.DAYS:
            return queryset
        start, end = _day_bounds(request, *self.DAYS[self.value()])
        return queryset.filter(starts_at__gte=start, starts_at__lt=end)


# --- Today ---------------------------------------------------------------------------------------------


def today_view(model_admin, request):
    """Today's sessions and groups of the user's facilities, in time order, in the clinic's time zone."""
    if not _may(request, "session.view"):
        raise PermissionDenied
    start, end = _day_bounds(request)
    sessions = list(
        selectors.therapy_session_list(actor=request.user)
        .filter(starts_at__gte=start, starts_at__lt=end)
        .select_related("patient")
        .order_by("starts_at")
    )
    groups = list(
        selectors.group_session_list(actor=request.user).filter(starts_at__gte=start, starts_at__lt=end)
        if _may(request, "group_session.view")
        else []
    )
    audit_record_reads(actor=request.user, action="list", instances=sessions)
    rows = [
        {
            "starts_at": session.starts_at,
            "time": f"{_local(request, session.starts_at)}–{_local(request, session.ends_at)}",
            "what": f"{session.get_kind_display()} session ({session.get_modality_display()})",
            "who": session.patient.mrn,
            "with": session.counselor.get_full_name() or session.counselor.get_username(),
            "where": session.location or "Telehealth",
            "status": session.get_status_display(),
            "url": _change_url(session),
        }
        for session in sessions
    ]
    rows += [
        {
            "starts_at": group.starts_at,
            "time": f"{_local(request, group.starts_at)}–{_local(request, group.ends_at)}",
            "what": f"{group.title} (group)",
            "who": f"{sum(1 for e in group.roster.all() if e.status not in CANCELLED_STATUSES)} of {group.capacity}",
            "with": group.facilitator.get_full_name() or group.facilitator.get_username(),
            "where": group.location or "Telehealth",
            "status": group.get_status_display(),
            "url": _change_url(group),
        }
        for group in groups
    ]
    rows.sort(key=lambda row: row["starts_at"])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Today, {start:%A %d %B %Y}",
        "rows": rows,
    }
    return TemplateResponse(request, "admin/therapy/today.html", context)


# --- Sessions ------------------------------------------------------------------------------------------


def _https_by_default(field, **kwargs):
    """Form fields of telehealth links: a link typed without a scheme is https (never plain http)."""
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class SessionForm(forms.ModelForm):
    class Meta:
        model = TherapySession
        formfield_callback = _https_by_default
        fields = [
            "episode",
            "kind",
            "modality",
            "counselor",
            "starts_at",
            "ends_at",
            "location",
            "telehealth_url",
            "family_participants",
        ]


@admin.register(TherapySession)
class TherapySessionAdmin(ServiceFormMixin, ScopedModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    view_action = "session.view"
    add_action = "session.schedule"
    change_action = "session.schedule"
    form = SessionForm
    list_display = ["when", "patient", "kind", "modality", "counselor", "place", "status"]
    list_filter = [DayFilter, "status", "kind", "modality"]
    list_select_related = ["patient", "counselor"]
    ordering = ["starts_at"]
    actions = ["mark_attended", "mark_no_show", "cancel_sessions"]
    change_list_template = "admin/therapy/session_change_list.html"
    status_fields = [
        "patient",
        "status",
        "cancelled_at",
        "cancellation_reason",
        "attendance_recorded_at",
        "appointment",
    ]

    def get_fields(self, request, obj=None):
        fields = list(SessionForm.Meta.fields)
        return fields if obj is None else [name for name in fields if name != "episode"] + self.status_fields

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status != AttendanceStatus.SCHEDULED:
            return [*SessionForm.Meta.fields, *self.status_fields]
        return ["kind", *self.status_fields]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "episode":
            kwargs["queryset"] = _open_episodes(request.user)
        elif db_field.name == "counselor":
            kwargs["queryset"] = _therapists(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in form.changed_data if name in services.SESSION_CHANGE_FIELDS}
            return services.session_update(actor=request.user, session=obj, data=changed)
        fields = {name: data[name] for name in SessionForm.Meta.fields if name != "episode"}
        return services.session_schedule(actor=request.user, episode=data["episode"], **fields)

    @admin.display(description="When", ordering="starts_at")
    def when(self, obj):
        return f"{obj.starts_at:%Y-%m-%d} {obj.starts_at:%H:%M}–{obj.ends_at:%H:%M} UTC"

    @admin.display(description="Where")
    def place(self, obj):
        return obj.location or "Telehealth"

    def _attendance(self, request, queryset, status: str, label: str):
        if not _may(request, "session.record_attendance"):
            raise PermissionDenied
        _run_each(
            self,
            request,
            queryset,
            lambda session: services.session_record_attendance(actor=request.user, session=session, status=status),
            label,
        )

    @admin.action(description="Mark attended")
    def mark_attended(self, request, queryset):
        self._attendance(request, queryset, AttendanceStatus.ATTENDED, "Marked attended")

    @admin.action(description="Mark no-show")
    def mark_no_show(self, request, queryset):
        self._attendance(request, queryset, AttendanceStatus.NO_SHOW, "Marked no-show")

    @admin.action(description="Cancel (clinic cancelled)")
    def cancel_sessions(self, request, queryset):
        if not _may(request, "session.cancel"):
            raise PermissionDenied
        _run_each(
            self, request, queryset, lambda s: services.session_cancel(actor=request.user, session=s), "Cancelled"
        )

    def get_urls(self):
        return [
            path("today/", self.admin_site.admin_view(lambda request: today_view(self, request)), name="therapy_today"),
            *super().get_urls(),
        ]


# --- Group sessions ------------------------------------------------------------------------------------


class RosterInline(ScopedInline):
    """The roster with each patient's attendance (recorded on the group's "Record attendance" page)."""

    model = GroupAttendance
    view_action = "group_session.view"
    fields = ["patient", "status", "recorded_at", "appointment"]
    readonly_fields = fields
    can_delete = False


class GroupSessionForm(forms.ModelForm):
    class Meta:
        model = GroupSession
        formfield_callback = _https_by_default
        fields = [
            "facility",
            "title",
            "modality",
            "facilitator",
            "starts_at",
            "ends_at",
            "capacity",
            "location",
            "telehealth_url",
        ]


class RosterAddForm(forms.Form):
    patient = forms.ModelChoiceField(queryset=Patient.objects.none(), help_text="A patient with an open episode.")


class AttendanceForm(forms.Form):
    def __init__(self, *args, entries, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [
            ("", "—"),
            *[(value, label) for value, label in AttendanceStatus.choices if value in ("attended", "no_show")],
        ]
        for entry in entries:
            self.fields[str(entry.patient_id)] = forms.ChoiceField(
                label=str(entry.patient), choices=choices, required=False, initial=entry.status
            )


@admin.register(GroupSession)
class GroupSessionAdmin(AuditedInlinesMixin, ServiceFormMixin, ScopedModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    view_action = "group_session.view"
    add_action = "group_session.schedule"
    change_action = "group_session.schedule"
    form = GroupSessionForm
    inlines = [RosterInline]
    list_display = ["title", "when", "facilitator", "places", "status"]
    list_filter = [DayFilter, "status", "modality"]
    list_select_related = ["facilitator"]
    ordering = ["starts_at"]
    actions = ["cancel_groups"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roster")

    def inline_records(self, obj) -> list:
        return list(obj.roster.all())

    def get_fields(self, request, obj=None):
        fields = list(GroupSessionForm.Meta.fields)
        return fields if obj is None else [*fields, "status", "cancellation_reason", "next_steps"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status != GroupSession.Status.SCHEDULED:
            return [*GroupSessionForm.Meta.fields, "status", "cancellation_reason", "next_steps"]
        return ["facility", "status", "cancellation_reason", "next_steps"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "facility":
            kwargs["queryset"] = Facility.objects.filter(id__in=request.user.facility_ids())
        elif db_field.name == "facilitator":
            kwargs["queryset"] = _therapists(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in form.changed_data if name in services.GROUP_CHANGE_FIELDS}
            return services.group_session_update(actor=request.user, group=obj, data=changed)
        fields = {name: data[name] for name in GroupSessionForm.Meta.fields}
        return services.group_session_schedule(actor=request.user, **fields)

    def save_related(self, request, form, formsets, change):
        """The roster inline is read-only: nothing to save but the group itself."""

    @admin.display(description="When", ordering="starts_at")
    def when(self, obj):
        return f"{obj.starts_at:%Y-%m-%d} {obj.starts_at:%H:%M}–{obj.ends_at:%H:%M} UTC"

    @admin.display(description="Places")
    def places(self, obj):
        taken = sum(1 for entry in obj.roster.all() if entry.status not in CANCELLED_STATUSES)
        return f"{taken} / {obj.capacity}"

    @admin.display(description="Next step")
    def next_steps(self, obj):
        links = []
        if obj.status == GroupSession.Status.SCHEDULED:
            links.append((reverse("admin:therapy_groupsession_roster_add", args=[obj.pk]), "Add to roster"))
        if obj.status != GroupSession.Status.CANCELLED:
            links.append((reverse("admin:therapy_groupsession_attendance", args=[obj.pk]), "Record attendance"))
        if not links:
            return "—"
        return format_html_join(" ", '<a class="button" href="{}">{}</a>', links)

    @admin.action(description="Cancel (clinic cancelled)")
    def cancel_groups(self, request, queryset):
        if not _may(request, "group_session.cancel"):
            raise PermissionDenied
        _run_each(
            self, request, queryset, lambda g: services.group_session_cancel(actor=request.user, group=g), "Cancelled"
        )

    def get_urls(self):
        def view(method):
            return self.admin_site.admin_view(method)

        return [
            path("<uuid:object_id>/roster/", view(self.roster_add_view), name="therapy_groupsession_roster_add"),
            path("<uuid:object_id>/attendance/", view(self.attendance_view), name="therapy_groupsession_attendance"),
            *super().get_urls(),
        ]

    def _group_for(self, request, object_id, action: str) -> GroupSession:
        if not _may(request, action):
            raise PermissionDenied
        group = self.get_object(request, str(object_id))
        if group is None:
            raise PermissionDenied
        return group

    def roster_add_view(self, request, object_id):
        group = self._group_for(request, object_id, "group_session.manage_roster")
        form = RosterAddForm(request.POST or None)
        form.fields["patient"].queryset = scope_queryset(
            Patient.objects.filter(facility=group.facility, episodes__closed_at__isnull=True), request.user
        ).distinct()
        if request.method == "POST" and form.is_valid():
            try:
                services.group_roster_add(actor=request.user, group=group, patient=form.cleaned_data["patient"])
            except DomainError as error:
                _show_error(form, error)
            else:
                self.message_user(request, "Added to the roster.", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(group))
        return _action_page(self, request, group, title="Add to roster", form=form, submit_label="Add")

    def attendance_view(self, request, object_id):
        group = self._group_for(request, object_id, "group_session.record_attendance")
        entries = [entry for entry in group.roster.select_related("patient") if entry.status not in CANCELLED_STATUSES]
        form = AttendanceForm(request.POST or None, entries=entries)
        if request.method == "POST" and form.is_valid():
            attendance = {patient_id: status for patient_id, status in form.cleaned_data.items() if status}
            try:
                services.group_attendance_record(actor=request.user, group=group, attendance=attendance)
            except DomainError as error:
                _show_error(form, error)
            else:
                self.message_user(request, "Attendance recorded.", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(group))
        summary = [("Group", str(group)), ("Places", self.places(group))]
        return _action_page(
            self, request, group, title="Record attendance", form=form, submit_label="Record", summary=summary
        )


# --- Appointments --------------------------------------------------------------------------------------


@admin.register(Appointment)
class AppointmentAdmin(ScopedModelAdmin):
    """The patients' calendars, read-only: appointments are booked through what they are for."""

    view_action = "appointment.view"
    list_display = ["when", "patient", "kind", "with_staff", "location", "status"]
    list_filter = [DayFilter, "kind", "status"]
    list_select_related = ["patient", "with_staff"]
    ordering = ["starts_at"]
    readonly_fields = [
        "patient",
        "kind",
        "starts_at",
        "ends_at",
        "with_staff",
        "location",
        "telehealth_url",
        "status",
        "cancelled_at",
        "subject_type",
        "subject_id",
    ]
    fields = readonly_fields

    @admin.display(description="When", ordering="starts_at")
    def when(self, obj):
        return f"{obj.starts_at:%Y-%m-%d} {obj.starts_at:%H:%M}–{obj.ends_at:%H:%M} UTC"


# --- Progress notes ------------------------------------------------------------------------------------


class AddendumInline(ScopedInline):
    model = NoteAddendum
    view_action = "progress_note.view"
    fields = ["text", "author", "signed_at"]
    readonly_fields = fields
    can_delete = False


class ProgressNoteForm(forms.ModelForm):
    class Meta:
        model = ProgressNote
        fields = ["session", "format", *ALL_SECTIONS]


class AddendumForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}))


class UnsignedFilter(admin.SimpleListFilter):
    title = "signature"
    parameter_name = "signature"

    def lookups(self, request, model_admin):
        return [("draft", "Draft"), ("overdue", "Unsigned for 72 h or more"), ("signed", "Signed")]

    def queryset(self, request, queryset):
        if self.value() == "draft":
            return queryset.filter(signed_at__isnull=True)
        if self.value() == "overdue":
            cutoff = timezone.now() - services.UNSIGNED_NOTE_REMINDER_AFTER
            return queryset.filter(signed_at__isnull=True, created_at__lte=cutoff)
        if self.value() == "signed":
            return queryset.filter(signed_at__isnull=False)
        return queryset


@admin.register(ProgressNote)
class ProgressNoteAdmin(AuditedInlinesMixin, ServiceFormMixin, ScopedModelAdmin):
    """Chart notes. A draft is changed by its author; "Sign" signs the selected drafts you wrote; a signed note
    is read-only and takes addenda."""

    view_action = "progress_note.view"
    add_action = "progress_note.write"
    change_action = "progress_note.write"
    form = ProgressNoteForm
    inlines = [AddendumInline]
    list_display = ["__str__", "patient", "source", "author", "note_status", "created_at", "signed_at"]
    list_filter = [UnsignedFilter, "format"]
    list_select_related = ["patient", "author", "session", "group_note"]
    actions = ["sign_notes"]
    locked_fields = ["patient", "author", "status_line", "signed_at", "group_part", "next_step"]

    def inline_records(self, obj) -> list:
        return list(obj.addenda.all())

    def get_fields(self, request, obj=None):
        if obj is None:
            return ProgressNoteForm.Meta.fields
        return ["format", *ALL_SECTIONS, "participation", *self.locked_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.is_signed or obj.author_id != request.user.pk:
            return ["format", *ALL_SECTIONS, "participation", *self.locked_fields]
        return ["participation", *self.locked_fields] if obj.group_note_id is None else ["format", *self.locked_fields]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "session":
            kwargs["queryset"] = selectors.therapy_session_list(actor=request.user).filter(
                status=AttendanceStatus.ATTENDED, progress_notes__isnull=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in form.changed_data if name in ("format", *ALL_SECTIONS)}
            return services.progress_note_update(actor=request.user, note=obj, data=changed)
        sections = {name: data.get(name, "") for name in ALL_SECTIONS}
        return services.progress_note_create(
            actor=request.user, session=data["session"], format=data["format"], **sections
        )

    def save_related(self, request, form, formsets, change):
        """Addenda are added on their own page, never through the inline."""

    @admin.display(description="For")
    def source(self, obj):
        return "Group" if obj.group_note_id else "Session"

    @admin.display(description="Status")
    def note_status(self, obj):
        return obj.status

    @admin.display(description="Status")
    def status_line(self, obj):
        if obj.is_signed:
            return f"Signed by its author on {obj.signed_at:%Y-%m-%d %H:%M} UTC"
        return "Draft"

    @admin.display(description="Group note")
    def group_part(self, obj):
        if obj.group_note_id is None:
            return "—"
        group_note = obj.group_note
        return format_html(
            '<a href="{}">{}</a><p>{}</p>', _change_url(group_note), group_note.group_session, group_note.summary
        )

    @admin.display(description="Next step")
    def next_step(self, obj):
        if not obj.is_signed:
            return "Sign it from the list (select it, then “Sign the selected notes”)."
        url = reverse("admin:therapy_progressnote_addendum", args=[obj.pk])
        return format_html('<a class="button" href="{}">Add an addendum</a>', url)

    @admin.action(description="Sign the selected notes (yours)")
    def sign_notes(self, request, queryset):
        if not _may(request, "progress_note.write"):
            raise PermissionDenied
        _run_each(
            self, request, queryset, lambda note: services.progress_note_sign(actor=request.user, note=note), "Signed"
        )

    def get_urls(self):
        return [
            path(
                "<uuid:object_id>/addendum/",
                self.admin_site.admin_view(self.addendum_view),
                name="therapy_progressnote_addendum",
            ),
            *super().get_urls(),
        ]

    def addendum_view(self, request, object_id):
        if not _may(request, "progress_note.write"):
            raise PermissionDenied
        note = self.get_object(request, str(object_id))
        if note is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        form = AddendumForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.addendum_add(actor=request.user, note=note, text=form.cleaned_data["text"])
            except DomainError as error:
                _show_error(form, error)
            else:
                self.message_user(request, "Addendum signed and added.", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(note))
        return _action_page(self, request, note, title="Add an addendum", form=form, submit_label="Sign and add")


class GroupNotePartInline(ScopedInline):
    model = ProgressNote
    fk_name = "group_note"
    view_action = "progress_note.view"
    fields = ["patient", "participation", *ALL_SECTIONS, "signed_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(GroupNote)
class GroupNoteAdmin(AuditedInlinesMixin, ScopedModelAdmin):
    """Group notes, read here and signed by their author (written through the API's group session note)."""

    view_action = "progress_note.view"
    inlines = [GroupNotePartInline]
    list_display = ["__str__", "group_session", "author", "signed_at", "created_at"]
    list_select_related = ["group_session", "author"]
    fields = ["group_session", "format", "summary", "author", "signed_at"]
    readonly_fields = fields
    actions = ["sign_group_notes", "sign_group_notes_names_reviewed"]

    def inline_records(self, obj) -> list:
        return list(obj.parts.all())

    def _sign(self, request, queryset, names_reviewed: bool):
        if not _may(request, "progress_note.write"):
            raise PermissionDenied
        _run_each(
            self,
            request,
            queryset,
            lambda note: services.group_note_sign(actor=request.user, note=note, names_reviewed=names_reviewed),
            "Signed",
        )

    @admin.action(description="Sign the selected group notes (yours)")
    def sign_group_notes(self, request, queryset):
        self._sign(request, queryset, names_reviewed=False)

    @admin.action(description="Sign, confirming the attendee names flagged are not about those attendees")
    def sign_group_notes_names_reviewed(self, request, queryset):
        self._sign(request, queryset, names_reviewed=True)


# --- Treatment plans -----------------------------------------------------------------------------------


class ReviewDueFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("due", "Due"), ("later", "Not yet due")]

    def queryset(self, request, queryset):
        if self.value() == "due":
            return queryset.filter(next_review_at__lte=timezone.now())
        if self.value() == "later":
            return queryset.filter(next_review_at__gt=timezone.now())
        return queryset


class ReviewForm(forms.Form):
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}))


@admin.register(TreatmentPlan)
class TreatmentPlanAdmin(ScopedModelAdmin):
    """Plans, read here with their whole tree; a review is recorded on its own page (the plan is written
    through the API's treatment-plans resource, whose nested lists a flat form cannot hold)."""

    view_action = "treatment_plan.view"
    list_display = ["__str__", "episode", "review_interval_days", "next_review_at", "last_reviewed_at"]
    list_filter = [ReviewDueFilter]
    list_select_related = ["episode"]
    readonly_fields = [
        "episode",
        "review_interval_days",
        "next_review_at",
        "last_reviewed_at",
        "content",
        "history",
        "next_step",
    ]

    def get_fields(self, request, obj=None):
        fields = self.readonly_fields
        return fields if _may(request, "treatment_plan.change") else [name for name in fields if name != "next_step"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("problems__goals__objectives", "interventions")

    @admin.display(description="Plan")
    def content(self, obj):
        problems = format_html_join(
            "",
            "<li>{}<ul>{}</ul></li>",
            (
                (
                    problem.description,
                    format_html_join(
                        "",
                        "<li>{} — measured by {}, by {}<ul>{}</ul></li>",
                        (
                            (
                                goal.statement,
                                goal.measure,
                                goal.target_date,
                                format_html_join(
                                    "",
                                    "<li>{} (by {}: {})</li>",
                                    (
                                        (o.description, o.target_date, o.get_status_display())
                                        for o in goal.objectives.all()
                                    ),
                                ),
                            )
                            for goal in problem.goals.all()
                        ),
                    ),
                )
                for problem in obj.problems.all()
            ),
        )
        interventions = format_html_join(
            "",
            "<li>{} {} {}</li>",
            ((i.get_kind_display(), i.description, i.frequency) for i in obj.interventions.all()),
        )
        return format_html("<ol>{}</ol><p>Interventions:</p><ul>{}</ul>", problems, interventions)

    @admin.display(description="Reviews")
    def history(self, obj):
        rows = obj.reviews.select_related("reviewed_by")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} by {}: {}</li>",
                ((r.reviewed_at.strftime("%Y-%m-%d"), r.reviewed_by, r.summary) for r in rows),
            ),
        )

    @admin.display(description="Next step")
    def next_step(self, obj):
        if not obj.episode.is_open:
            return "—"
        url = reverse("admin:therapy_treatmentplan_review", args=[obj.pk])
        return format_html('<a class="button" href="{}">Record a review</a>', url)

    def get_urls(self):
        return [
            path(
                "<uuid:object_id>/review/",
                self.admin_site.admin_view(self.review_view),
                name="therapy_treatmentplan_review",
            ),
            *super().get_urls(),
        ]

    def review_view(self, request, object_id):
        if not _may(request, "treatment_plan.change"):
            raise PermissionDenied
        plan = self.get_object(request, str(object_id))
        if plan is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        form = ReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.treatment_plan_review(actor=request.user, plan=plan, summary=form.cleaned_data["summary"])
            except DomainError as error:
                _show_error(form, error)
            else:
                self.message_user(request, "Review recorded.", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(plan))
        summary = [("Next review due", f"{plan.next_review_at:%Y-%m-%d}")]
        return _action_page(
            self, request, plan, title="Record a review", form=form, submit_label="Record", summary=summary
        )


# --- Psychotherapy notes -------------------------------------------------------------------------------


class PsychotherapyNoteForm(forms.ModelForm):
    class Meta:
        model = PsychotherapyNote
        fields = ["episode", "session", "content"]


@admin.register(PsychotherapyNote)
class PsychotherapyNoteAdmin(ServiceFormMixin, ScopedModelAdmin):
    """Your own psychotherapy notes only: nobody else's are listed, whatever their role."""

    view_action = "psychotherapy_note.view"
    add_action = "psychotherapy_note.write"
    change_action = "psychotherapy_note.write"
    form = PsychotherapyNoteForm
    list_display = ["__str__", "patient", "created_at", "updated_at"]
    list_select_related = ["patient"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(author_id=request.user.pk)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["episode", "session"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "episode":
            kwargs["queryset"] = scope_queryset(Episode.objects.select_related("patient"), request.user)
        elif db_field.name == "session":
            kwargs["queryset"] = selectors.therapy_session_list(actor=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        if change:
            return services.psychotherapy_note_update(actor=request.user, note=obj, content=data["content"])
        return services.psychotherapy_note_create(
            actor=request.user, episode=data["episode"], session=data.get("session"), content=data["content"]
        )
