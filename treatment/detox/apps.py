from django.apps import AppConfig


class DetoxConfig(AppConfig):
    """Medically supervised withdrawal: observation rounds, the drug catalogue, medication orders and the MAR.

    It extends the stage machine of `treatment` from the outside: entering detox starts a course (and its first
    round), leaving detox ends it (and cancels its open round).
    """

    name = "treatment.detox"
    label = "detox"
    verbose_name = "Detox"

    def ready(self):
        from treatment import stages
        from treatment.models import Stage

        from . import (
            dashboard,  # noqa: F401  (dashboard tiles and patient page sections of the staff admin)
            services,
        )

        stages.register_transition_handler(Stage.DETOX, services.on_detox_entered)
        stages.register_transition_handler(stages.ANY_STAGE, services.on_stage_left)
