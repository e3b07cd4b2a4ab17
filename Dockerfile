FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=clinic.settings.production
WORKDIR /app
RUN useradd --create-home --uid 10001 clinic
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=clinic:clinic . .
RUN DJANGO_SECRET_KEY=build-only-key-build-only-key-build-only-key-build-only python manage.py collectstatic --no-input
USER clinic
EXPOSE 8000
CMD ["gunicorn", "clinic.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "30", "--access-logfile", "-"]
