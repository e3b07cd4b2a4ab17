"""Admin pages for detox: courses (round interval, rounds, the withdrawal chart), rounds, the drug catalogue,
medication orders and the MAR. Writes go through `treatment.detox.services`; a refusal shows on the form."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from clinic.accounts.roles import role_may
from clinic.admin_scoping import ScopedInline, ScopedModelAdmin
from clinic.audit.services import audit_record_reads
from clinic.scoping import scope_queryset
from treatment.admin import ServiceFormMixin
from treatment.models import Episode

from . import chart, selectors, services
from .models import DetoxCourse, Drug, MedicationAdministration, MedicationOrder, ObservationRound


def _open_episodes(user):
    return scope_queryset(Episode.objects.filter(closed_at__isnull=True).select_related("patient"), user)


# --- Drug catalogue ------------------------------------------------------------------------------------


@admin.register(Drug)
class DrugAdmin(admin.ModelAdmin):
    """The catalogue is reference data (no patient in it), seeded by a migration; shown read-only."""

    list_display = ["name", "drug_class", "controlled", "schedule", "default_route", "default_unit", "active"]
    list_filter = ["drug_class", "controlled", "active"]
    search_fields = ["name", "code"]
    readonly_fields = [
        "code", "name", "drug_class", "controlled", "schedule", "default_route", "default_unit", "synonyms", "active",
    ]  # fmt: skip

    def _may_view(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_staff and role_may(getattr(user, "role", None), "drug.view")

    def has_module_permission(self, request):
        return self._may_view(request)

    def has_view_permission(self, request, obj=None):
        return self._may_view(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Courses and rounds --------------------------------------------------------------------------------


class RoundInline(ScopedInline):
    model = ObservationRound
    view_action = "observation_round.view"
    fk_name = "course"
    ordering = ["-sequence"]
    fields = ["sequence", "due_at", "status", "observed_at", "cows", "ciwa_ar", "pulse", "recorded_by"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class DetoxCourseForm(forms.ModelForm):
    class Meta:
        model = DetoxCourse
        fields = ["round_interval_minutes", "interval_reason"]


@admin.register(DetoxCourse)
class DetoxCourseAdmin(ServiceFormMixin, ScopedModelAdmin):
    view_action = "detox_course.view"
    change_action = "detox_course.change"
    form = DetoxCourseForm
    inlines = [RoundInline]
    list_display = ["__str__", "episode", "started_at", "ended_at", "round_interval_minutes"]
    list_select_related = ["episode"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "episode", "started_at", "started_by", "ended_at", "ended_by", "interval_set_by", "interval_set_at",
        "withdrawal_chart",
    ]  # fmt: skip
    fields = [*readonly_fields[:5], "round_interval_minutes", "interval_reason", *readonly_fields[5:]]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_active:
            return self.readonly_fields
        return [*self.readonly_fields, "round_interval_minutes", "interval_reason"]

    def service_save(self, request, form, obj, change):
        return services.detox_course_set_interval(
            actor=request.user,
            course=obj,
            round_interval_minutes=form.cleaned_data["round_interval_minutes"],
            reason=form.cleaned_data.get("interval_reason", ""),
        )

    @admin.display(description="Withdrawal chart")
    def withdrawal_chart(self, obj):
        url = reverse("admin:detox_detoxcourse_chart", args=[obj.pk])
        return format_html(
            '<img src="{}" alt="COWS/CIWA-Ar totals and pulse over time" style="max-width: 100%; height: auto">', url
        )

    def get_urls(self):
        return [
            path(
                "<uuid:object_id>/chart.svg",
                self.admin_site.admin_view(self.chart_view),
                name="detox_detoxcourse_chart",
            ),
            *super().get_urls(),
        ]

    def chart_view(self, request, object_id):
        """The chart as SVG, for the change page's <img>. Scoped and audited like the API's chart."""
        if not role_may(request.user.role, "detox_course.view"):
            raise PermissionDenied
        course = self.get_queryset(request).select_related("episode__patient__facility").filter(pk=object_id).first()
        if course is None:
            return HttpResponse(status=404)
        image = chart.render_withdrawal_chart(selectors.withdrawal_series(course.episode), image_format="svg")
        audit_record_reads(actor=request.user, action="withdrawal_chart", instances=[course.episode])
        response = HttpResponse(image, content_type=chart.FORMATS["svg"])
        response["Cache-Control"] = "no-store"
        return response


@admin.register(ObservationRound)
class ObservationRoundAdmin(ScopedModelAdmin):
    """Rounds are recorded from the staff app (POST /api/v1/observation-rounds/{id}/record/); shown here."""

    view_action = "observation_round.view"
    list_display = ["__str__", "episode", "due_at", "status", "observed_at", "pulse", "recorded_by"]
    list_filter = ["status"]
    list_select_related = ["episode", "recorded_by"]
    date_hierarchy = "due_at"
    readonly_fields = [
        "course", "episode", "sequence", "due_at", "status", "overdue_at", "observed_at", "recorded_by", "cows",
        "ciwa_ar", "pulse", "systolic_bp", "diastolic_bp", "temperature_c", "respiratory_rate", "spo2", "note",
        "cancelled_at",
    ]  # fmt: skip
    fields = readonly_fields


# --- Medication orders and the MAR ---------------------------------------------------------------------

ORDER_INPUT_FIELDS = [
    "episode", "drug", "dose", "dose_unit", "route", "frequency", "starts_at", "stops_at", "indication",
    "min_interval_minutes", "max_doses_per_24h", "prn_instrument", "prn_min_band", "instructions",
    "allergy_override_reason",
]  # fmt: skip


class MedicationOrderForm(forms.ModelForm):
    class Meta:
        model = MedicationOrder
        fields = ORDER_INPUT_FIELDS


@admin.register(MedicationOrder)
class MedicationOrderAdmin(ServiceFormMixin, ScopedModelAdmin):
    view_action = "medication_order.view"
    add_action = "medication_order.create"
    form = MedicationOrderForm
    list_display = ["__str__", "episode", "starts_at", "stops_at", "status", "prescriber"]
    list_filter = ["status", "frequency", "drug__drug_class", "drug__controlled"]
    list_select_related = ["episode", "drug", "prescriber"]
    date_hierarchy = "starts_at"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ORDER_INPUT_FIELDS
        return [*ORDER_INPUT_FIELDS, "prescriber", "allergy_conflicts", "status", "discontinued_at",
                "discontinued_by", "discontinue_reason"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "starts_at": timezone.now()}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "episode":
            kwargs["queryset"] = _open_episodes(request.user)
        elif db_field.name == "drug":
            kwargs["queryset"] = Drug.objects.filter(active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = {name: form.cleaned_data.get(name) for name in ORDER_INPUT_FIELDS}
        for name in ("indication", "prn_instrument", "prn_min_band", "instructions", "allergy_override_reason"):
            data[name] = data[name] or ""
        return services.medication_order_create(actor=request.user, **data)


class MedicationAdministrationForm(forms.ModelForm):
    class Meta:
        model = MedicationAdministration
        fields = ["order", "outcome", "administered_at", "scheduled_for", "reason"]


@admin.register(MedicationAdministration)
class MedicationAdministrationAdmin(ServiceFormMixin, ScopedModelAdmin):
    view_action = "medication_administration.view"
    add_action = "medication_administration.create"
    form = MedicationAdministrationForm
    list_display = ["__str__", "order", "episode", "outcome", "scheduled_for", "recorded_by"]
    list_filter = ["outcome"]
    list_select_related = ["order__drug", "episode", "recorded_by"]
    date_hierarchy = "administered_at"

    def get_fields(self, request, obj=None):
        fields = ["order", "outcome", "administered_at", "scheduled_for", "reason"]
        return fields if obj is None else [*fields, "episode", "dose", "dose_unit", "route", "observation",
                                           "recorded_by"]  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "administered_at": timezone.now()}

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "order":
            kwargs["queryset"] = scope_queryset(
                MedicationOrder.objects.filter(
                    status=MedicationOrder.Status.ACTIVE, episode__closed_at__isnull=True
                ).select_related("drug"),
                request.user,
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, form, obj, change):
        data = form.cleaned_data
        return services.medication_administer(
            actor=request.user,
            order=data["order"],
            outcome=data["outcome"],
            administered_at=data.get("administered_at"),
            scheduled_for=data.get("scheduled_for"),
            reason=data.get("reason") or "",
        )
