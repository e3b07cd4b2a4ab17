"""The admin site staff work in: the dashboard as its home page and the patient page with its actions."""

from django.contrib import admin
from django.urls import path

from clinic.accounts.roles import STAFF_ROLES

from . import views
from .registry import patient_model


class ClinicAdminSite(admin.AdminSite):
    site_header = "Recovery clinic"
    site_title = "Recovery clinic admin"
    index_title = "Today at the clinic"
    index_template = "staffadmin/dashboard.html"

    def has_permission(self, request):
        """Staff roles only: a patient account never gets in, even if marked as staff by mistake."""
        return super().has_permission(request) and getattr(request.user, "role", None) in STAFF_ROLES

    def index(self, request, extra_context=None):
        return super().index(request, {**views.dashboard_context(self, request), **(extra_context or {})})

    def get_urls(self):
        opts = patient_model()._meta
        overview = f"{opts.app_label}/{opts.model_name}/<uuid:object_id>/overview/"
        return [
            path(overview, self.admin_view(self.patient_overview_view), name="patient_overview"),
            path(
                f"{overview}<slug:action_name>/",
                self.admin_view(self.patient_action_view),
                name="patient_overview_action",
            ),
            *super().get_urls(),
        ]

    def patient_overview_view(self, request, object_id):
        return views.patient_overview(self, request, object_id)

    def patient_action_view(self, request, object_id, action_name):
        return views.patient_action(self, request, object_id, action_name)
