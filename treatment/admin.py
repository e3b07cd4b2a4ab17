"""Admin pages for episodes, observations, assessments, alerts and facility instrument configurations.

Every write goes through `treatment.services`: add/change forms call their service once the form is valid
(`ServiceFormMixin`), and the stage transition, recommendation and decision have their own small forms.
A service's refusal (a domain error) is shown on the form, and nothing is written.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from clinic.accounts.models import Facility, User
from clinic.accounts.roles import role_may
from clinic.admin_scoping import ScopedModelAdmin
from clinic.errors import DomainError
from clinic.scoping import scope_queryset
from patients.models import Patient, SubstanceUseHistory

from . import services, stages
from .instruments import instrument_choices
from .models import (
    Alert,
    Assessment,
    DischargeReason,
    Episode,
    InstrumentConfiguration,
    Observation,
    Setting,
    Stage,
)

ACTION_TEMPLATE = "admin/treatment/action_form.html"


def _show_error(form: forms.Form, error: DomainError) -> None:
    """Put a service's error on the form: under the field it names when the form has it, else on top."""
    if not error.fields:
        form.add_error(None, error.message)
        return
    for name, field_messages in error.fields.items():
        field, _, item = name.partition(".")
        for message in field_messages:
            if field in form.fields:
                form.add_error(field, f"{item}: {message}" if item else message)
            else:
                form.add_error(None, f"{name}: {message}")


class ServiceFormMixin:
    """Add/change pages that save through a service. The service runs once the form is otherwise valid, so
    its errors show on the form; `save_model` then has nothing left to do. These pages have no inline
    formsets (whose validation would come after the write)."""

    def service_save(self, request, form, obj, change: bool) -> Model:
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class ServiceForm(form_class):
            def _post_clean(self):
                super()._post_clean()
                if self.errors:
                    return
                try:
                    self.instance = model_admin.service_save(request, self, obj, change)
                except DomainError as error:
                    _show_error(self, error)

        return ServiceForm

    def save_model(self, request, obj, form, change):
        """Saved by the service during validation (see `get_form`)."""


def _staff_of(user: User, role: str):
    return User.objects.filter(role=role, is_active=True, facilities__in=user.facility_ids()).distinct()


def _open_episodes(user: User):
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


# --- Episodes ------------------------------------------------------------------------------------------

CARE_TEAM_ROLES = services.CARE_TEAM_ROLES


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=Stage.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    category = forms.ChoiceField(
        choices=[("", "—"), *DischargeReason.choices], required=False, help_text="Discharge only."
    )


@admin.register(Episode)
class EpisodeAdmin(ServiceFormMixin, ScopedModelAdmin):
    view_action = "episode_clinical.view"
    add_action = "episode.open"
    change_action = "episode.change"
    list_display = ["__str__", "patient", "stage", "setting", "opened_at", "closed_at"]
    list_filter = ["stage", "setting", "discharge_reason"]
    search_fields = ["=patient__mrn"]
    list_select_related = ["patient"]
    date_hierarchy = "opened_at"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["patient", "previous_episode", *CARE_TEAM_ROLES]
        return [
            "patient",
            "stage",
            "setting",
            "opened_at",
            "opened_by",
            "closed_at",
            "discharge_reason",
            "previous_episode",
            *CARE_TEAM_ROLES,
            "transition_history",
            "next_step",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [
            "patient",
            "stage",
            "setting",
            "opened_at",
            "opened_by",
            "closed_at",
            "discharge_reason",
            "previous_episode",
            "transition_history",
            "next_step",
        ]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "patient":
            kwargs["queryset"] = scope_queryset(Patient.objects.all(), request.user)
        elif db_field.name == "previous_episode":
            kwargs["queryset"] = scope_queryset(Episode.objects.filter(closed_at__isnull=False), request.user)
        elif db_field.name in CARE_TEAM_ROLES:
            kwargs["queryset"] = _staff_of(request.user, CARE_TEAM_ROLES[db_field.name])
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        if change:
            team = {slot: data.get(slot) for slot in CARE_TEAM_ROLES if slot in form.changed_data}
            return services.episode_update_care_team(actor=request.user, episode=obj, data=team)
        return services.episode_open(
            actor=request.user,
            patient=data["patient"],
            previous_episode=data.get("previous_episode"),
            **{slot: data.get(slot) for slot in CARE_TEAM_ROLES},
        )

    @admin.display(description="Transitions")
    def transition_history(self, obj):
        rows = obj.transitions.select_related("actor")
        if not rows:
            return "—"
        return format_html(
            "<table><tr><th>When</th><th>From</th><th>To</th><th>Who</th><th>Why</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
                (
                    (
                        row.occurred_at.strftime("%Y-%m-%d %H:%M UTC"),
                        row.get_from_stage_display(),
                        row.get_to_stage_display(),
                        row.actor.get_full_name() or row.actor.get_username(),
                        row.get_category_display() if row.category else "",
                        row.reason,
                    )
                    for row in rows
                ),
            ),
        )

    @admin.display(description="Next step")
    def next_step(self, obj):
        if not stages.allowed_targets(obj.stage):
            return "—"
        url = reverse("admin:treatment_episode_transition", args=[obj.pk])
        return format_html('<a class="button" href="{}">Move to another stage</a>', url)

    def get_urls(self):
        return [
            path(
                "<uuid:object_id>/transition/",
                self.admin_site.admin_view(self.transition_view),
                name="treatment_episode_transition",
            ),
            *super().get_urls(),
        ]

    def transition_view(self, request, object_id):
        if not role_may(request.user.role, "episode.transition"):
            raise PermissionDenied
        episode = self.get_object(request, str(object_id))
        if episode is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        form = TransitionForm(
            request.POST if request.method == "POST" else None,
            initial={"to": next(iter(stages.allowed_targets(episode.stage)), "")},
        )
        if request.method == "POST" and form.is_valid():
            try:
                services.episode_transition(
                    actor=request.user,
                    episode=episode,
                    to=form.cleaned_data["to"],
                    reason=form.cleaned_data["reason"],
                    category=form.cleaned_data["category"] or None,
                )
            except DomainError as error:
                _show_error(form, error)
                if isinstance(error.details, dict) and "allowed" in error.details:
                    form.add_error(
                        "to", f"Allowed from {episode.stage}: {', '.join(error.details['allowed']) or 'none'}."
                    )
            else:
                self.message_user(request, f"Moved to {form.cleaned_data['to']}.", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(episode))
        summary = [
            ("Stage", episode.get_stage_display()),
            ("Allowed next", ", ".join(stages.allowed_targets(episode.stage)) or "none"),
        ]
        return _action_page(
            self, request, episode, title="Move to another stage", form=form, submit_label="Move", summary=summary
        )


# --- Observations --------------------------------------------------------------------------------------


class ObservationForm(forms.ModelForm):
    instrument = forms.ChoiceField(choices=instrument_choices)
    substance = forms.ChoiceField(
        choices=[("", "—"), *SubstanceUseHistory.Substance.choices], required=False, help_text="DSM-5 only."
    )
    responses = forms.JSONField(help_text='Item key -> value, e.g. {"q1": 0, "q2": 1, ...}. Scored by the server.')

    class Meta:
        model = Observation
        fields = ["episode", "instrument", "responses", "substance", "observed_at"]


@admin.register(Observation)
class ObservationAdmin(ServiceFormMixin, ScopedModelAdmin):
    view_action = "observation.view"
    add_action = "observation.create"
    form = ObservationForm
    list_display = ["instrument", "total", "band", "episode", "observed_at", "recorded_by"]
    list_filter = ["instrument", "band"]
    list_select_related = ["episode", "recorded_by"]
    date_hierarchy = "observed_at"
    readonly_fields = ["total", "band", "flags", "definition_version", "recorded_by", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["episode", "instrument", "responses", "substance", "observed_at"]
        return ["episode", "instrument", "responses", "substance", "observed_at", *self.readonly_fields]

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "observed_at": timezone.now()}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "episode":
            kwargs["queryset"] = _open_episodes(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        return services.observation_record(
            actor=request.user,
            episode=data["episode"],
            instrument=data["instrument"],
            responses=data["responses"],
            observed_at=data.get("observed_at"),
            substance=data.get("substance") or "",
        )


# --- Assessments ---------------------------------------------------------------------------------------


class AssessmentForm(forms.ModelForm):
    vitals = forms.JSONField(
        required=False,
        initial=dict,
        help_text="pulse, systolic_bp, diastolic_bp, temperature_c, respiratory_rate, spo2",
    )
    urine_drug_screen = forms.JSONField(
        required=False, initial=dict, help_text="Analyte -> negative, positive, inconclusive or not_tested"
    )
    asam_dimensions = forms.JSONField(required=False, initial=dict, help_text="d1..d6 -> risk rating 0-4")

    class Meta:
        model = Assessment
        fields = ["episode", *services.ASSESSMENT_FIELDS]


class CompleteForm(forms.Form):
    accepted_setting = forms.ChoiceField(choices=Setting.choices)
    outpatient_intensity = forms.ChoiceField(
        choices=[("", "—"), *Assessment.OutpatientIntensity.choices],
        required=False,
        help_text="Required for an outpatient setting.",
    )
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Required when the setting differs from the recommendation.",
    )


@admin.register(Assessment)
class AssessmentAdmin(ServiceFormMixin, ScopedModelAdmin):
    view_action = "assessment.view"
    add_action = "assessment.change"
    change_action = "assessment.change"
    form = AssessmentForm
    list_display = ["__str__", "episode", "status", "recommended_setting", "accepted_setting", "decided_at"]
    list_filter = ["status", "recommended_setting", "accepted_setting"]
    list_select_related = ["episode"]
    decision_fields = [
        "status",
        "recommendation",
        "recommended_at",
        "recommended_by",
        "linked_observations",
        "accepted_setting",
        "outpatient_intensity",
        "override_reason",
        "decided_at",
        "decided_by",
        "next_step",
    ]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["episode", *services.ASSESSMENT_FIELDS]
        return ["episode", *services.ASSESSMENT_FIELDS, *self.decision_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status == Assessment.Status.COMPLETED:
            return ["episode", *services.ASSESSMENT_FIELDS, *self.decision_fields]
        return ["episode", *self.decision_fields]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "episode":
            kwargs["queryset"] = _open_episodes(request.user).filter(assessment__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        for name in ("vitals", "urine_drug_screen", "asam_dimensions"):
            if data.get(name) is None:
                data[name] = {}
        if change:
            changed = {name: data[name] for name in form.changed_data if name in services.ASSESSMENT_FIELDS}
            return services.assessment_update(actor=request.user, assessment=obj, data=changed)
        fields = {name: data[name] for name in services.ASSESSMENT_FIELDS if name in data}
        return services.assessment_create(actor=request.user, episode=data["episode"], **fields)

    @admin.display(description="Recommendation")
    def recommendation(self, obj):
        if not obj.recommended_setting:
            return "—"
        return format_html(
            "<strong>{}</strong><ul>{}</ul>",
            obj.get_recommended_setting_display(),
            format_html_join("", "<li>{} ({})</li>", ((r["description"], r["code"]) for r in obj.recommendation_rules))
            or "",
        )

    @admin.display(description="Observations used")
    def linked_observations(self, obj):
        return ", ".join(str(observation) for observation in obj.observations.all()) or "—"

    @admin.display(description="Next step")
    def next_step(self, obj):
        if obj.status == Assessment.Status.COMPLETED:
            return "—"
        return format_html(
            '<a class="button" href="{}">Recommend a setting</a> <a class="button" href="{}">Accept or override</a>',
            reverse("admin:treatment_assessment_recommend", args=[obj.pk]),
            reverse("admin:treatment_assessment_complete", args=[obj.pk]),
        )

    def get_urls(self):
        return [
            path(
                "<uuid:object_id>/recommend/",
                self.admin_site.admin_view(self.recommend_view),
                name="treatment_assessment_recommend",
            ),
            path(
                "<uuid:object_id>/complete/",
                self.admin_site.admin_view(self.complete_view),
                name="treatment_assessment_complete",
            ),
            *super().get_urls(),
        ]

    def _assessment(self, request, object_id, action: str):
        if not role_may(request.user.role, action):
            raise PermissionDenied
        return self.get_object(request, str(object_id))

    def _summary(self, assessment):
        rules = "\n".join(f"- {rule['description']}" for rule in assessment.recommendation_rules)
        return [
            ("Recommended", assessment.get_recommended_setting_display() or "not yet"),
            ("Because", rules or "no rule fired"),
        ]

    def recommend_view(self, request, object_id):
        assessment = self._assessment(request, object_id, "assessment.change")
        if assessment is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        form = forms.Form(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                assessment = services.assessment_recommend(actor=request.user, assessment=assessment)
            except DomainError as error:
                _show_error(form, error)
            else:
                self.message_user(
                    request, f"Recommended: {assessment.get_recommended_setting_display()}.", messages.SUCCESS
                )
                return HttpResponseRedirect(_change_url(assessment))
        return _action_page(
            self,
            request,
            assessment,
            title="Recommend a setting",
            form=form,
            submit_label="Recommend",
            summary=self._summary(assessment),
        )

    def complete_view(self, request, object_id):
        assessment = self._assessment(request, object_id, "assessment.complete")
        if assessment is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, str(object_id))
        form = CompleteForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                assessment = services.assessment_complete(
                    actor=request.user, assessment=assessment, **form.cleaned_data
                )
            except DomainError as error:
                _show_error(form, error)
            else:
                self.message_user(request, f"Completed: {assessment.get_accepted_setting_display()}.", messages.SUCCESS)
                return HttpResponseRedirect(_change_url(assessment))
        return _action_page(
            self,
            request,
            assessment,
            title="Accept or override the recommendation",
            form=form,
            submit_label="Complete the assessment",
            summary=self._summary(assessment),
        )


# --- Alerts --------------------------------------------------------------------------------------------


class AcknowledgedFilter(admin.SimpleListFilter):
    title = "acknowledged"
    parameter_name = "acknowledged"

    def lookups(self, request, model_admin):
        return [("no", "Not yet"), ("yes", "Acknowledged")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(acknowledged_at__isnull=self.value() == "no")
        return queryset


@admin.register(Alert)
class AlertAdmin(ScopedModelAdmin):
    view_action = "alert.view"
    list_display = [
        "severity",
        "kind",
        "patient",
        "target_role",
        "target_user",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
    ]
    list_filter = [AcknowledgedFilter, "severity", "kind", "target_role"]
    list_select_related = ["patient", "target_user", "acknowledged_by"]
    actions = ["acknowledge"]
    readonly_fields = [
        "patient",
        "episode",
        "kind",
        "severity",
        "reason",
        "target_role",
        "target_user",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
    ]
    fields = readonly_fields

    def has_acknowledge_permission(self, request):
        return role_may(request.user.role, "alert.acknowledge")

    @admin.action(description="Acknowledge the selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        done = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            services.alert_acknowledge(actor=request.user, alert=alert)
            done += 1
        self.message_user(request, f"Acknowledged {done} alert(s).", messages.SUCCESS)


# --- Facility instrument configuration -----------------------------------------------------------------


class InstrumentConfigurationForm(forms.ModelForm):
    instrument = forms.ChoiceField(choices=instrument_choices)
    bands = forms.JSONField(help_text='[{"name": "minimal", "low": 0, "high": 9}, ...] in the default order')
    alert_thresholds = forms.JSONField(required=False, initial=dict, help_text='e.g. {"severity": 19}')
    sex_bands = forms.JSONField(required=False, initial=dict)

    class Meta:
        model = InstrumentConfiguration
        fields = ["facility", "instrument", "bands", "alert_thresholds", "sex_bands"]


@admin.register(InstrumentConfiguration)
class InstrumentConfigurationAdmin(ServiceFormMixin, ScopedModelAdmin):
    """A facility's bands and thresholds. Never edited: a new configuration is a new version."""

    view_action = "instrument_configuration.view"
    add_action = "instrument_configuration.change"
    form = InstrumentConfigurationForm
    list_display = ["version", "facility", "instrument", "created_at", "created_by"]
    list_filter = ["instrument"]

    def get_readonly_fields(self, request, obj=None):
        return (
            []
            if obj is None
            else [
                "facility",
                "instrument",
                "version",
                "bands",
                "alert_thresholds",
                "sex_bands",
                "created_by",
                "created_at",
            ]
        )

    def get_fields(self, request, obj=None):
        return (
            ["facility", "instrument", "bands", "alert_thresholds", "sex_bands"]
            if obj is None
            else (self.get_readonly_fields(request, obj))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "facility":
            kwargs["queryset"] = Facility.objects.filter(id__in=request.user.facility_ids())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        return services.instrument_configuration_set(
            actor=request.user,
            facility=data["facility"],
            instrument=data["instrument"],
            bands=data["bands"],
            alert_thresholds=data.get("alert_thresholds") or {},
            sex_bands=data.get("sex_bands") or {},
        )
