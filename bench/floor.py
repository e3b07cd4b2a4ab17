"""The floors: the least work that answers each benchmarked call, to measure the API against.

`QUERIES` holds, per call, the SQL that fetches (or writes) the same rows the API returns, with no scoping
join beyond what the rows need, no authentication, no audit and no pagination cursor. bench/run.py runs them
straight through psycopg (the database floor), and the views below serve them as a bare Django view
(Django's request cycle and JsonResponse, no DRF): the same JSON the API returns, field for field, so the
ratio API / bare view is the cost of DRF, authentication, scoping and auditing. With `?audit=1` a bare view
also writes the audit rows the API must write (the law requires them, so they are part of the least work);
the ratio API / audited bare view is then the cost of the framework alone. bench/run.py checks that the JSON
matches before it measures.

Field lists come from the apps' serializers, so the floor follows the API when fields are added.
"""

import datetime as dt
import json
import uuid

import jwt
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import connection, transaction
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from aftercare.api.serializers import CheckInOutputSerializer
from patients.api.serializers import PATIENT_FIELDS
from treatment.api.serializers import CARE_TEAM_FIELDS, EPISODE_SUMMARY_FIELDS, OBSERVATION_FIELDS
from treatment.instruments import get_definition, score
from treatment.stages import allowed_targets

ALERT_FIELDS = [
    "id",
    "patient",
    "episode",
    "kind",
    "severity",
    "reason",
    "target_role",
    "target_user",
    "created_at",
    "updated_at",
    "acknowledged_at",
    "acknowledged_by",
]
EPISODE_FIELDS = [*EPISODE_SUMMARY_FIELDS, "discharge_reason", "opened_by", *CARE_TEAM_FIELDS]
OBSERVATION_OUTPUT_FIELDS = [*OBSERVATION_FIELDS[:2], "patient", *OBSERVATION_FIELDS[2:]]
FOREIGN_KEYS = {
    "facility",
    "patient",
    "episode",
    "previous_episode",
    "opened_by",
    "recorded_by",
    "target_user",
    "acknowledged_by",
    *CARE_TEAM_FIELDS,
}


def columns(alias: str, fields: list[str], *, rename: dict | None = None) -> str:
    """The SQL select list for API `fields` of the table `alias` (foreign keys are their `_id` columns)."""
    rename = rename or {}
    return ", ".join(rename.get(f, f"{alias}.{f}_id" if f in FOREIGN_KEYS else f"{alias}.{f}") for f in fields)


PATIENT_COLUMNS = columns("p", PATIENT_FIELDS)
OBSERVATION_COLUMNS = columns("o", OBSERVATION_OUTPUT_FIELDS, rename={"patient": "e.patient_id"})
ALERT_COLUMNS = columns("a", ALERT_FIELDS)
CHECK_IN_FIELDS = list(CheckInOutputSerializer.Meta.fields)
CHECK_IN_RETURNING = ", ".join(f"{f}_id" if f in FOREIGN_KEYS else f for f in CHECK_IN_FIELDS)

# name -> SQL with named parameters. Lists are ordered like the API's cursor pages (newest first).
QUERIES = {
    "login": "SELECT id, password, is_active FROM accounts_user WHERE username = %(username)s",
    "patient_search": f"""
        SELECT {PATIENT_COLUMNS} FROM patients_patient p
        WHERE p.facility_id = ANY(%(facilities)s)
          AND (upper(p.first_name) LIKE upper(%(pattern)s) OR upper(p.last_name) LIKE upper(%(pattern)s)
               OR upper(p.mrn) = upper(%(word)s))
        ORDER BY p.created_at DESC, p.id DESC LIMIT %(limit)s""",
    "patient_detail": f"SELECT {PATIENT_COLUMNS} FROM patients_patient p WHERE p.id = %(id)s",
    "episode_detail": f"SELECT {columns('e', EPISODE_FIELDS)} FROM treatment_episode e WHERE e.id = %(id)s",
    "episode_transitions": """
        SELECT t.id, t.from_stage, t.to_stage, t.reason, t.category, t.actor_id, u.first_name, u.last_name,
               u.username, t.occurred_at
        FROM treatment_episodetransition t JOIN accounts_user u ON u.id = t.actor_id
        WHERE t.episode_id = %(id)s ORDER BY t.occurred_at, t.created_at""",
    "observation_create": """
        INSERT INTO treatment_observation (id, created_at, updated_at, episode_id, instrument, responses, total, band,
                                           flags, definition_version, substance, observed_at, recorded_by_id)
        SELECT %(id)s, %(now)s, %(now)s, e.id, %(instrument)s, %(responses)s, %(total)s, %(band)s, %(flags)s,
               %(version)s, '', %(now)s, %(recorded_by)s
        FROM treatment_episode e WHERE e.id = %(episode)s
        RETURNING id, episode_id, (SELECT patient_id FROM treatment_episode WHERE id = %(episode)s), instrument,
                  responses, total, band, flags, definition_version, substance, observed_at, recorded_by_id,
                  created_at, updated_at""",
    "check_in_create": f"""
        INSERT INTO aftercare_checkin (id, created_at, updated_at, patient_id, episode_id, craving, mood, used,
                                       triggers, note, checked_in_at, local_date)
        SELECT %(id)s, %(now)s, %(now)s, p.id, e.id, %(craving)s, %(mood)s, %(used)s, %(triggers)s, %(note)s, %(now)s,
               (%(now)s AT TIME ZONE p.timezone)::date
        FROM patients_patient p JOIN treatment_episode e ON e.patient_id = p.id AND e.closed_at IS NULL
        WHERE p.user_id = %(user)s
        RETURNING {CHECK_IN_RETURNING}""",
    "alerts_open": f"""
        SELECT {ALERT_COLUMNS} FROM treatment_alert a JOIN patients_patient p ON p.id = a.patient_id
        WHERE p.facility_id = ANY(%(facilities)s) AND a.acknowledged_at IS NULL
        ORDER BY a.created_at DESC, a.id DESC LIMIT %(limit)s""",
    "audit": """
        INSERT INTO audit_auditevent (occurred_at, actor_username, actor_role, action, model, object_id, patient_id,
                                      facility_id, source, request_id, user_agent, detail)
        SELECT now(), '', '', %(action)s, %(model)s, x.object_id, x.patient_id, %(facility)s, 'api', '', '', '{}'
        FROM unnest(%(objects)s::text[], %(patients)s::uuid[]) AS x(object_id, patient_id)""",
    "sync_page": f"""
        SELECT {OBSERVATION_COLUMNS} FROM treatment_observation o
        JOIN treatment_episode e ON e.id = o.episode_id JOIN patients_patient p ON p.id = e.patient_id
        WHERE p.facility_id = ANY(%(facilities)s) AND o.updated_at >= %(since)s
        ORDER BY o.created_at DESC, o.id DESC LIMIT %(limit)s""",
}


def json_value(value):
    """A column value as DRF renders it (UTC date-times with Z, ISO dates and times, ids as strings)."""
    if isinstance(value, dt.datetime):
        text = value.astimezone(dt.UTC).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


JSON_FIELDS = {"responses", "flags", "triggers"}


def as_dict(fields: list[str], row) -> dict:
    values = {name: json_value(value) for name, value in zip(fields, row, strict=True)}
    for name in JSON_FIELDS & values.keys():
        if isinstance(values[name], str):  # Django hands jsonb over as text, for JSONField to decode
            values[name] = json.loads(values[name])
    return values


def fetch(name: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(QUERIES[name], params)
        return cursor.fetchall()


def audit(request, *, action: str, model: str, records: list[tuple]) -> None:
    """With ?audit=1, the floor also records the reads or the write as the API must: one audit row per
    (object id, patient id), in one INSERT that commits (and flushes) like the API's."""
    if request.GET.get("audit") != "1" or not records:
        return
    objects, patients = zip(*records, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            QUERIES["audit"],
            {
                "action": action,
                "model": model,
                "objects": list(objects),
                "patients": list(patients),
                "facility": request.GET.get("facility"),
            },
        )


def page(results: list[dict]) -> JsonResponse:
    position = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    body = {"next": None, "previous": None, "results": results, "sync_position": json_value(position)}
    return JsonResponse(body)


def _limit(request, default: int = 50) -> int:
    return min(int(request.GET.get("page_size", default)), 200)


@require_GET
def patient_search(request):
    word = request.GET["search"]
    params = {"facilities": [request.GET["facility"]], "pattern": f"%{word}%", "word": word, "limit": _limit(request)}
    results = [as_dict(PATIENT_FIELDS, row) for row in fetch("patient_search", params)]
    audit(request, action="list", model="patients.patient", records=[(p["id"], p["id"]) for p in results])
    return page(results)


@require_GET
def patient_detail(request, pk):
    rows = fetch("patient_detail", {"id": pk})
    if not rows:
        raise Http404
    patient = as_dict(PATIENT_FIELDS, rows[0])
    audit(request, action="view", model="patients.patient", records=[(patient["id"], patient["id"])])
    return JsonResponse(patient)


@require_GET
def episode_detail(request, pk):
    rows = fetch("episode_detail", {"id": pk})
    if not rows:
        raise Http404
    episode = as_dict(EPISODE_FIELDS, rows[0])
    episode["next_stages"] = allowed_targets(episode["stage"])
    episode["transitions"] = [
        {
            "id": str(tid),
            "from_stage": source,
            "to_stage": target,
            "reason": reason,
            "category": category,
            "actor": actor,
            "actor_name": f"{first} {last}".strip() or username,
            "occurred_at": json_value(occurred),
        }
        for tid, source, target, reason, category, actor, first, last, username, occurred in fetch(
            "episode_transitions", {"id": pk}
        )
    ]
    audit(request, action="view", model="treatment.episode", records=[(episode["id"], episode["patient"])])
    return JsonResponse(episode)


@require_GET
def alerts_open(request):
    params = {"facilities": [request.GET["facility"]], "limit": _limit(request)}
    results = [as_dict(ALERT_FIELDS, row) for row in fetch("alerts_open", params)]
    audit(request, action="list", model="treatment.alert", records=[(a["id"], a["patient"]) for a in results])
    return page(results)


def observation_row(body: dict, *, recorded_by: int) -> dict:
    """The parameters of `observation_create` for a request body: scored with the default definition."""
    definition = get_definition(body["instrument"])
    result = score(definition, body["responses"])
    now = dt.datetime.now(dt.UTC)
    return {
        "id": uuid.uuid4(),
        "now": now,
        "episode": body["episode"],
        "instrument": definition.code,
        "responses": json.dumps(body["responses"]),
        "total": result.total,
        "band": result.band,
        "flags": json.dumps(list(result.flags)),
        "version": result.version,
        "recorded_by": recorded_by,
    }


@csrf_exempt
@require_http_methods(["GET", "POST"])
def observations(request):
    if request.method == "GET":
        params = {"facilities": [request.GET["facility"]], "since": request.GET["updated_since"]}
        params["limit"] = _limit(request)
        results = [as_dict(OBSERVATION_OUTPUT_FIELDS, row) for row in fetch("sync_page", params)]
        audit(request, action="list", model="treatment.observation", records=[(o["id"], o["patient"]) for o in results])
        return page(results)
    body = json.loads(request.body)
    with transaction.atomic():
        rows = fetch("observation_create", observation_row(body, recorded_by=int(body["recorded_by"])))
        if not rows:
            raise Http404
        observation = as_dict(OBSERVATION_OUTPUT_FIELDS, rows[0])
        audit(
            request,
            action="create",
            model="treatment.observation",
            records=[(observation["id"], observation["patient"])],
        )
    return JsonResponse(observation, status=201)


def check_in_row(body: dict, *, user: int) -> dict:
    """The parameters of `check_in_create` for a patient's request body."""
    now = dt.datetime.now(dt.UTC)
    return {
        "id": uuid.uuid4(),
        "now": now,
        "user": user,
        "craving": int(body["craving"]),
        "mood": int(body["mood"]),
        "used": bool(body["used"]),
        "triggers": json.dumps(body.get("triggers", [])),
        "note": body.get("note", ""),
    }


@csrf_exempt
@require_http_methods(["POST"])
def check_ins(request):
    body = json.loads(request.body)
    with transaction.atomic():
        rows = fetch("check_in_create", check_in_row(body, user=int(body["user"])))
        if not rows:
            raise Http404
        check_in = as_dict(CHECK_IN_FIELDS, rows[0])
        audit(request, action="create", model="aftercare.checkin", records=[(check_in["id"], check_in["patient"])])
    return JsonResponse(check_in, status=201)


@csrf_exempt
@require_http_methods(["POST"])
def login(request):
    body = json.loads(request.body)
    rows = fetch("login", {"username": body.get("username", "")})
    if not rows or not rows[0][2] or not check_password(body.get("password", ""), rows[0][1]):
        return HttpResponseBadRequest()
    now = dt.datetime.now(dt.UTC)
    claims = {"user_id": str(rows[0][0]), "iat": now, "jti": uuid.uuid4().hex}
    access = jwt.encode({**claims, "token_type": "access", "exp": now + dt.timedelta(minutes=5)}, settings.SECRET_KEY)
    refresh = jwt.encode({**claims, "token_type": "refresh", "exp": now + dt.timedelta(days=14)}, settings.SECRET_KEY)
    return JsonResponse({"access": access, "refresh": refresh, "device": None})


urlpatterns = [
    path("auth/token/", login),
    path("patients/", patient_search),
    path("patients/<uuid:pk>/", patient_detail),
    path("episodes/<uuid:pk>/", episode_detail),
    path("observations/", observations),
    path("alerts/", alerts_open),
    path("check-ins/", check_ins),
]
