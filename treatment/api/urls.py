from rest_framework.routers import SimpleRouter

from .views import AlertViewSet, AssessmentViewSet, EpisodeViewSet, MyAlertViewSet, MyPatientViewSet, ObservationViewSet

router = SimpleRouter()
router.register("episodes", EpisodeViewSet, basename="episode")
router.register("observations", ObservationViewSet, basename="observation")
router.register("alerts", AlertViewSet, basename="alert")
router.register("assessments", AssessmentViewSet, basename="assessment")
router.register("me/patients", MyPatientViewSet, basename="my-patient")
router.register("me/alerts", MyAlertViewSet, basename="my-alert")

urlpatterns = router.urls
