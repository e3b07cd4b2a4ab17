from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("drugs", views.DrugViewSet, basename="drug")
router.register("detox-courses", views.DetoxCourseViewSet, basename="detox-course")
router.register("observation-rounds", views.ObservationRoundViewSet, basename="observation-round")
router.register("medication-orders", views.MedicationOrderViewSet, basename="medication-order")
router.register(
    "medication-administrations", views.MedicationAdministrationViewSet, basename="medication-administration"
)
# Only detail actions (withdrawal-timeline, withdrawal-chart, mar): /episodes/ itself belongs to treatment.
router.register("episodes", views.DetoxEpisodeViewSet, basename="detox-episode")
router.register("me/due-rounds", views.MyDueRoundViewSet, basename="my-due-round")

urlpatterns = router.urls
