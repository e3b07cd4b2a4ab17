from django.apps import AppConfig


class TherapyConfig(AppConfig):
    name = "treatment.therapy"
    label = "therapy"
    verbose_name = "Therapy"

    def ready(self):
        from treatment.models import Stage
        from treatment.stages import register_transition_handler

        from . import dashboard  # noqa: F401  (dashboard tiles and patient page sections of the staff admin)
        from .services import episode_discharged_cancel_sessions

        register_transition_handler(Stage.DISCHARGED, episode_discharged_cancel_sessions)
