"""Admin pages for aftercare: relapse-prevention plans, follow-up check-ins (with their completion form), the
patients' check-ins, relapses, facilities' follow-up schedules, and the outcome figures.

Every write goes through `aftercare.services` (add/change forms save through their service once valid, as in
treatment's admin); a service's refusal shows on the form and nothing is written.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from clinic.accounts.models import Facility
from clinic.accounts.roles import role_may
from clinic.admin_scoping import ScopedModelAdmin
from clinic.audit.services import audit_record_system
from clinic.errors import DomainError
from clinic.scoping import scope_queryset
from treatment.admin import ServiceFormMixin, _show_error
from treatment.models import Episode

from . import selectors, services
from .models import (
    AftercareOutcome,
    CheckIn,
    ProviderCheckIn,
    ProviderCheckInSchedule,
    Relapse,
    RelapsePreventionPlan,
    TriggerCategory,
)

ACTION_TEMPLATE = "admin/treatment/action_form.html"


def _open_episodes(user):
    return scope_queryset(Episode.objects.filter(closed_at__isnull=True).select_related("patient"), user)


def _action_page(model_admin, request, obj, *, title: str, form, submit_label: str, summary=()):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": obj,
        "title": title,
        "form": form,
        "submit_label": submit_label,
        "summary": summary,
    }
    return TemplateResponse(request, ACTION_TEMPLATE, context)


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _require(request, action: str) -> None:
    if not role_may(request.user.role, action):
        raise PermissionDenied


# --- Plans ---------------------------------------------------------------------------------------------


class TriggerForm(forms.Form):
    category = forms.ChoiceField(choices=TriggerCategory.choices)
    description = forms.CharField(max_length=500)
    coping_strategies = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text="One coping strategy per line."
    )


@admin.register(RelapsePreventionPlan)
class RelapsePreventionPlanAdmin(ServiceFormMixin, ScopedModelAdmin):
    view_action = "relapse_prevention_plan.view"
    add_action = "relapse_prevention_plan.change"
    change_action = "relapse_prevention_plan.change"
    list_display = ["__str__", "episode", "aftercare_started_at", "check_in_prompt_time", "updated_at"]
    list_select_related = ["episode"]
    readonly_fields = ["aftercare_started_at", "triggers_and_strategies", "add_trigger_link"]
    LIST_FIELDS = services.PLAN_LIST_FIELDS

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("episode__patient")

    def get_fields(self, request, obj=None):
        head = ["episode"] if obj is None else ["aftercare_started_at", "triggers_and_strategies", "add_trigger_link"]
        return [*head, *self.LIST_FIELDS, "check_in_prompt_time"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "episode":
            kwargs["queryset"] = _open_episodes(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        values = {name: data.get(name) or [] for name in self.LIST_FIELDS}
        values["check_in_prompt_time"] = data.get("check_in_prompt_time")
        if change:
            changed = {name: value for name, value in values.items() if name in form.changed_data}
            return services.relapse_prevention_plan_update(actor=request.user, plan=obj, data=changed)
        return services.relapse_prevention_plan_create(actor=request.user, episode=data["episode"], **values)

    @admin.display(description="Triggers and coping strategies")
    def triggers_and_strategies(self, obj):
        triggers = obj.triggers.prefetch_related("coping_strategies")
        return (
            format_html_join(
                "",
                "<p><strong>{}</strong>: {}{}</p><ul>{}</ul>",
                (
                    (
                        trigger.get_category_display(),
                        trigger.description,
                        " (the patient's)" if trigger.authored_by_patient else "",
                        format_html_join(
                            "",
                            "<li>{}{}</li>",
                            (
                                (strategy.text, " (the patient's)" if strategy.authored_by_patient else "")
                                for strategy in trigger.coping_strategies.all()
                            ),
                        ),
                    )
                    for trigger in triggers
                ),
            )
            or "—"
        )

    @admin.display(description="")
    def add_trigger_link(self, obj):
        if obj is None or obj.pk is None:
            return ""
        url = reverse("admin:aftercare_relapsepreventionplan_add_trigger", args=[obj.pk])
        return format_html('<a class="button" href="{}">Add a trigger</a>', url)

    def get_urls(self):
        return [
            path(
                "<uuid:object_id>/add-trigger/",
                self.admin_site.admin_view(self.add_trigger_view),
                name="aftercare_relapsepreventionplan_add_trigger",
            ),
            *super().get_urls(),
        ]

    def add_trigger_view(self, request, object_id):
        _require(request, "relapse_prevention_plan.add_trigger")
        plan = self.get_object(request, str(object_id))
        if plan is None:
            raise PermissionDenied
        form = TriggerForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            strategies = [line.strip() for line in form.cleaned_data["coping_strategies"].splitlines() if line.strip()]
            try:
                services.relapse_trigger_add(
                    actor=request.user,
                    plan=plan,
                    category=form.cleaned_data["category"],
                    description=form.cleaned_data["description"],
                    coping_strategies=strategies,
                )
            except DomainError as error:
                _show_error(form, error)
            else:
                messages.success(request, "Trigger added.")
                return HttpResponseRedirect(_change_url(plan))
        return _action_page(self, request, plan, title="Add a trigger", form=form, submit_label="Add")


# --- Provider check-ins --------------------------------------------------------------------------------


class CompleteCheckInForm(forms.Form):
    outcome = forms.ChoiceField(choices=ProviderCheckIn.Outcome.choices)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    completed_at = forms.DateTimeField(required=False, help_text="When it took place; empty: now.")


@admin.register(ProviderCheckIn)
class ProviderCheckInAdmin(ScopedModelAdmin):
    view_action = "provider_check_in.view"
    list_display = ["__str__", "episode", "provider", "due_at", "status", "outcome", "completed_at", "complete_link"]
    list_filter = ["status", "offset_days"]
    list_select_related = ["episode", "provider"]
    date_hierarchy = "due_at"
    ordering = ["due_at"]
    readonly_fields = [
        "episode",
        "provider",
        "offset_days",
        "due_at",
        "missed_after",
        "status",
        "completed_at",
        "completed_by",
        "outcome",
        "note",
        "cancelled_at",
    ]

    @admin.display(description="")
    def complete_link(self, obj):
        if obj.status not in (ProviderCheckIn.Status.SCHEDULED, ProviderCheckIn.Status.MISSED):
            return ""
        url = reverse("admin:aftercare_providercheckin_complete", args=[obj.pk])
        return format_html('<a class="button" href="{}">Complete</a>', url)

    def get_urls(self):
        return [
            path(
                "<uuid:object_id>/complete/",
                self.admin_site.admin_view(self.complete_view),
                name="aftercare_providercheckin_complete",
            ),
            *super().get_urls(),
        ]

    def complete_view(self, request, object_id):
        _require(request, "provider_check_in.complete")
        check_in = self.get_object(request, str(object_id))
        if check_in is None:
            raise PermissionDenied
        form = CompleteCheckInForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.provider_check_in_complete(
                    actor=request.user,
                    check_in=check_in,
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                    completed_at=form.cleaned_data["completed_at"],
                )
            except DomainError as error:
                _show_error(form, error)
            else:
                messages.success(request, "Check-in completed.")
                return HttpResponseRedirect(reverse("admin:aftercare_providercheckin_changelist"))
        summary = [("Due", timezone.localtime(check_in.due_at)), ("Status", check_in.get_status_display())]
        return _action_page(
            self, request, check_in, title="Complete the check-in", form=form, submit_label="Complete", summary=summary
        )


# --- Self check-ins and relapses -----------------------------------------------------------------------


@admin.register(CheckIn)
class CheckInAdmin(ScopedModelAdmin):
    view_action = "check_in.view"
    list_display = ["__str__", "patient", "local_date", "craving", "mood", "used"]
    list_filter = ["used"]
    list_select_related = ["patient"]
    date_hierarchy = "checked_in_at"
    readonly_fields = [
        "patient",
        "episode",
        "craving",
        "mood",
        "used",
        "triggers",
        "note",
        "checked_in_at",
        "local_date",
    ]


class RelapseForm(forms.ModelForm):
    class Meta:
        model = Relapse
        fields = ["episode", "occurred_on", "substance", "context", "what_helped"]


@admin.register(Relapse)
class RelapseAdmin(ServiceFormMixin, ScopedModelAdmin):
    form = RelapseForm
    view_action = "relapse.view"
    add_action = "relapse.record"
    list_display = ["__str__", "episode", "substance", "recorded_by", "readmission"]
    list_select_related = ["episode", "recorded_by", "readmission"]

    def get_readonly_fields(self, request, obj=None):
        return (
            ["episode", "occurred_on", "substance", "context", "what_helped", "recorded_by", "readmission"]
            if obj
            else []
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "episode":
            kwargs["queryset"] = scope_queryset(Episode.objects.select_related("patient"), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        return services.relapse_record(
            actor=request.user,
            episode=data["episode"],
            occurred_on=data["occurred_on"],
            substance=data["substance"],
            context=data.get("context", ""),
            what_helped=data.get("what_helped", ""),
        )


# --- Facility follow-up schedules ----------------------------------------------------------------------


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = ProviderCheckInSchedule
        fields = ["facility", "offsets_days", "due_time", "grace_days"]


@admin.register(ProviderCheckInSchedule)
class ProviderCheckInScheduleAdmin(ServiceFormMixin, ScopedModelAdmin):
    form = ScheduleForm
    view_action = "provider_check_in_schedule.view"
    add_action = "provider_check_in_schedule.change"
    change_action = "provider_check_in_schedule.change"
    list_display = ["facility", "offsets_days", "due_time", "grace_days", "updated_by"]

    def get_readonly_fields(self, request, obj=None):
        return ["facility"] if obj else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "facility":
            kwargs["queryset"] = Facility.objects.filter(pk__in=request.user.facility_ids())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        return services.provider_check_in_schedule_set(
            actor=request.user,
            facility=obj.facility if change else data["facility"],
            offsets_days=data["offsets_days"],
            due_time=data["due_time"],
            grace_days=data["grace_days"],
        )


# --- Outcomes ------------------------------------------------------------------------------------------


def _percent(value) -> str:
    return "—" if value is None else f"{value:.0%}"


@admin.register(AftercareOutcome)
class AftercareOutcomeAdmin(ScopedModelAdmin):
    """Per-episode aftercare figures, computed from one annotated query per page, with the facility's totals
    above the list."""

    view_action = "aftercare_outcome.view"
    change_list_template = "admin/aftercare/aftercare_outcome_change_list.html"
    list_display = [
        "patient",
        "stage",
        "aftercare_started",
        "days_since_discharge",
        "check_in_adherence",
        "provider_on_time",
        "relapses",
        "readmissions",
    ]
    list_filter = ["stage"]
    list_display_links = None
    actions = None

    def _may_view_episodes(self, request) -> bool:
        return role_may(request.user.role, "aftercare_outcome.view")

    def get_queryset(self, request):
        if not self._may_view_episodes(request):  # facility figures only (clinic administrators)
            return AftercareOutcome.objects.none()
        return scope_queryset(selectors.outcome_queryset(AftercareOutcome.objects.all()), request.user)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None):
        user = request.user
        return (
            user.is_active
            and user.is_staff
            and any(
                role_may(user.role, action) for action in ("aftercare_outcome.view", "aftercare_outcome.view_facility")
            )
        )

    def has_change_permission(self, request, obj=None):
        return False

    def _figures(self, obj):
        return selectors.episode_outcome(obj, now=timezone.now())

    @admin.display(description="Aftercare since", ordering="relapse_prevention_plan__aftercare_started_at")
    def aftercare_started(self, obj):
        return timezone.localtime(obj.relapse_prevention_plan.aftercare_started_at).date()

    @admin.display(description="Days since discharge")
    def days_since_discharge(self, obj):
        return self._figures(obj).days_since_discharge

    @admin.display(description="Check-in adherence")
    def check_in_adherence(self, obj):
        figures = self._figures(obj)
        return f"{_percent(figures.check_in_adherence)} ({figures.check_in_days}/{figures.expected_check_in_days})"

    @admin.display(description="Follow-ups on time")
    def provider_on_time(self, obj):
        figures = self._figures(obj)
        return (
            f"{_percent(figures.provider_on_time_rate)} "
            f"({figures.provider_check_ins_on_time}/{figures.provider_check_ins_due}, "
            f"{figures.provider_check_ins_missed} missed)"
        )

    @admin.display(description="Relapses", ordering="relapse_count")
    def relapses(self, obj):
        return obj.relapse_count

    @admin.display(description="Readmissions", ordering="readmission_count")
    def readmissions(self, obj):
        return obj.readmission_count

    def changelist_view(self, request, extra_context=None):
        now = timezone.now()
        summaries = []
        if role_may(request.user.role, "aftercare_outcome.view_facility"):
            for facility in Facility.objects.filter(pk__in=request.user.facility_ids()):
                summaries.append(selectors.facility_outcome(facility=facility, now=now))
                audit_record_system(
                    actor=request.user, action="view", model_label="aftercare.facility_outcome", facility_id=facility.pk
                )
        context = {**(extra_context or {}), "facility_outcomes": [_summary_rows(summary) for summary in summaries]}
        return super().changelist_view(request, extra_context=context)


def _summary_rows(summary: selectors.FacilityOutcome) -> dict:
    return {
        "facility": summary.facility.name,
        "rows": [
            ("Episodes followed in aftercare", summary.episodes_followed),
            ("Patients in aftercare now", summary.patients_in_aftercare),
            (
                "Mean days since discharge (in aftercare now)",
                "—" if summary.mean_days_since_discharge is None else summary.mean_days_since_discharge,
            ),
            (
                "Daily check-in adherence",
                f"{_percent(summary.check_in_adherence)} "
                f"({summary.check_in_days}/{summary.expected_check_in_days} days)",
            ),
            (
                "Follow-up check-ins completed on time",
                f"{_percent(summary.provider_on_time_rate)} ({summary.provider_check_ins_on_time}/"
                f"{summary.provider_check_ins_due}; {summary.provider_check_ins_missed} missed)",
            ),
            ("Relapses recorded", summary.relapses),
            ("Readmissions", f"{summary.readmissions} ({_percent(summary.readmission_rate)})"),
        ],
    }
