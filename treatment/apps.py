from django.apps import AppConfig


class TreatmentConfig(AppConfig):
    name = "treatment"
    verbose_name = "Treatment"

    def ready(self):
        from . import dashboard  # noqa: F401  (dashboard tiles and patient page sections of the staff admin)
        from .integrations import connect

        connect()
