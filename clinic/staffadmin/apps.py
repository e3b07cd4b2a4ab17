from django.contrib.admin.apps import AdminConfig


class ClinicAdminConfig(AdminConfig):
    """Django's admin (app label `admin`, with autodiscovery) served by `ClinicAdminSite`."""

    default_site = "clinic.staffadmin.site.ClinicAdminSite"

    def ready(self):
        super().ready()
        from . import platform_tiles  # noqa: F401  (the platform's own dashboard tiles)
