from django.contrib import admin

from clinic.admin_scoping import ScopedModelAdmin

from . import services
from .models import Patient


@admin.register(Patient)
class PatientAdmin(ScopedModelAdmin):
    view_action = "patient.view"
    add_action = "patient.create"
    change_action = "patient.change"
    list_display = ["mrn", "last_name", "first_name", "date_of_birth", "facility", "status"]
    list_filter = ["facility", "status", "sex"]
    search_fields = ["=mrn", "last_name", "first_name", "phone"]
    readonly_fields = ["mrn", "user", "created_at", "updated_at"]
    list_select_related = ["facility"]
    date_hierarchy = "created_at"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "facility":
            kwargs["queryset"] = db_field.related_model.objects.filter(id__in=request.user.facility_ids())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if change:
            stored = Patient.objects.get(pk=obj.pk)
            saved = services.patient_update(actor=request.user, patient=stored, data=data)
        else:
            fields = {name: value for name, value in form.cleaned_data.items() if name != "facility"}
            saved = services.patient_register(actor=request.user, facility=form.cleaned_data["facility"], **fields)
        obj.pk, obj.mrn = saved.pk, saved.mrn
