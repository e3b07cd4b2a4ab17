from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("treatment-plans", views.TreatmentPlanViewSet, basename="treatment-plan")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("group-sessions", views.GroupSessionViewSet, basename="group-session")
router.register("appointments", views.AppointmentViewSet, basename="appointment")
router.register("progress-notes", views.ProgressNoteViewSet, basename="progress-note")
router.register("psychotherapy-notes", views.PsychotherapyNoteViewSet, basename="psychotherapy-note")
router.register("me/appointments", views.MyAppointmentViewSet, basename="my-appointment")

urlpatterns = router.urls
