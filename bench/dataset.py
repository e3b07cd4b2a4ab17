"""The data set bench/generate.py loads: a clinic network with its patients, episodes, scores and reminders.

Needs Django set up (bench/generate.py does it). Every table is written with one COPY through `Table`; the
values follow the models' rules (CHECK constraints still apply during the load) and the clinical shapes of
PRODUCT.md: most patients use kratom, often with alcohol or opioids; episodes move along
assessment -> detox -> therapy -> aftercare -> discharged; detox episodes carry frequent COWS/CIWA-Ar rounds;
flagged scores raise alerts exactly as treatment.services would; reminders are mostly history, a few waiting.
"""

import datetime as dt
import enum
import json
import random
import time
import uuid
from dataclasses import dataclass, field

import psycopg
from django.apps import apps
from django.contrib.auth.hashers import make_password
from django.db.models import ForeignKey, JSONField, OneToOneField
from faker.providers.person.en_US import Provider as Names

from clinic.accounts.models import Facility, User
from clinic.audit.models import AuditEvent
from clinic.notifications.models import Reminder
from patients.models import (
    Allergy,
    CommunicationConsent,
    CoOccurringCondition,
    MrnSequence,
    Patient,
    PatientContact,
    SubstanceUseHistory,
)
from treatment.instruments import DEFINITIONS, score
from treatment.models import Alert, Assessment, Episode, EpisodeTransition, Observation, Stage
from treatment.services import FLAG_ALERTS, OTHER_FLAG_ALERT

# Apps built after this generator was written: loaded when they are installed.
THERAPY_INSTALLED = apps.is_installed("treatment.therapy")
AFTERCARE_INSTALLED = apps.is_installed("aftercare")
TherapySession = apps.get_model("therapy", "TherapySession") if THERAPY_INSTALLED else None
ProgressNote = apps.get_model("therapy", "ProgressNote") if THERAPY_INSTALLED else None
CheckIn = apps.get_model("aftercare", "CheckIn") if AFTERCARE_INSTALLED else None

STAFF_PER_FACILITY = {
    "physician": 3,
    "nurse": 12,
    "counselor": 8,
    "case_manager": 3,
    "front_desk": 3,
    "clinic_admin": 1,
}
CITIES = [
    "Boston",
    "Worcester",
    "Springfield",
    "Lowell",
    "Providence",
    "Hartford",
    "Portland",
    "Burlington",
    "Manchester",
    "Albany",
    "Syracuse",
    "Buffalo",
    "Rochester",
    "Newark",
    "Trenton",
    "Camden",
    "Scranton",
    "Allentown",
    "Erie",
    "Pittsburgh",
]
TIMEZONES = ["America/New_York"] * 8 + ["America/Chicago", "America/Denver", "America/Los_Angeles"]
SUBSTANCES = {
    "kratom": 0.55,
    "alcohol": 0.15,
    "prescription_opioids": 0.1,
    "fentanyl": 0.08,
    "benzodiazepines": 0.04,
    "stimulants": 0.04,
    "cannabis": 0.04,
}
CURRENT_STAGE = {
    Stage.ASSESSMENT: 0.08,
    Stage.DETOX: 0.12,
    Stage.THERAPY: 0.3,
    Stage.AFTERCARE: 0.3,
    Stage.DISCHARGED: 0.2,
}
JOURNEY = [Stage.ASSESSMENT, Stage.DETOX, Stage.THERAPY, Stage.AFTERCARE, Stage.DISCHARGED]
DETOX_INSTRUMENTS = {"cows": 0.7, "ciwa_ar": 0.1, "phq9": 0.1, "gad7": 0.1}
OTHER_INSTRUMENTS = {"phq9": 0.45, "gad7": 0.45, "audit_c": 0.1}
SAMPLES_PER_INSTRUMENT = 400
DETOX_EPISODE_WEIGHT = 4.0  # observation rounds every few hours during detox: most observations are theirs
REMINDER_STATUSES = {"sent": 0.9, "failed": 0.01, "cancelled": 0.04, "suppressed": 0.02, "scheduled": 0.03}
PATIENT_REMINDER_KINDS = ["appointment", "check_in_prompt", "medication_refill"]
CHANNELS = ["sms", "email", "push"]
STAFF_REMINDER_KINDS = ["check_in_due", "plan_review_due", "observation_round_due"]
# Tables loaded here, parents first.
LOADED_MODELS = [
    Facility,
    User,
    Patient,
    MrnSequence,
    SubstanceUseHistory,
    CoOccurringCondition,
    Allergy,
    PatientContact,
    CommunicationConsent,
    Episode,
    EpisodeTransition,
    Assessment,
    Observation,
    Alert,
    Reminder,
    AuditEvent,
]


LOADED_MODELS += [model for model in (TherapySession, ProgressNote, CheckIn) if model is not None]


@dataclass
class Scale:
    facilities: int = 20
    patients: int = 100_000
    observations: int = 2_000_000
    reminders: int = 1_000_000
    audit_events: int = 1_000_000
    patient_login_share: float = 0.3
    readmission_share: float = 0.12
    password: str = "bench-pass-123456"
    seed: int = 20261123


class Table:
    """COPY rows into one model's table: values by field name, the model's defaults for the rest.

    Each table has its own connection (a connection carries one COPY at a time, and several tables are filled
    together), with foreign-key triggers off: the generator checks the keys once at the end instead.
    """

    def __init__(self, conninfo: str, model, *, omit: tuple[str, ...] = ()) -> None:
        self.conninfo = conninfo
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if f.attname not in omit]
        self.json = {f.attname for f in self.fields if isinstance(f, JSONField)}
        self.defaults = {}
        for f in self.fields:
            if f.has_default() and not callable(f.default):
                self.defaults[f.attname] = f.default
            elif f.has_default() and f.default in (dict, list):
                self.defaults[f.attname] = f.default()
            elif f.null:
                self.defaults[f.attname] = None
            elif f.blank and f.get_internal_type() in ("CharField", "TextField", "EmailField"):
                self.defaults[f.attname] = ""
        self.order = [f.attname for f in self.fields]

    def __enter__(self):
        columns = ", ".join(f'"{f.column}"' for f in self.fields)
        self.connection = psycopg.connect(self.conninfo)
        self.connection.execute("SET session_replication_role = replica")
        self._copy = self.connection.cursor().copy(f'COPY "{self.model._meta.db_table}" ({columns}) FROM STDIN')
        self.writer = self._copy.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self._copy.__exit__(*exc)
            if exc[0] is None:
                self.connection.commit()
        finally:
            self.connection.close()

    def write(self, **values) -> None:
        row = []
        for name in self.order:
            value = values[name] if name in values else self.defaults[name]
            if name in self.json and value is not None and not isinstance(value, str):
                value = json.dumps(value)
            elif isinstance(value, enum.Enum):  # psycopg would write an enum's name; the column holds its value
                value = value.value
            row.append(value)
        self.writer.write_row(row)


def drop_secondary_indexes(cursor, tables: list[str]) -> list[str]:
    """Drop the indexes that back no constraint on `tables`; returns their definitions to rebuild them."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        [tables],
    )
    rows = cursor.fetchall()
    for name, _ in rows:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def dangling_foreign_keys(cursor, models) -> list[str]:
    """One anti-join per foreign key of `models` (the load skips the per-row trigger checks)."""
    problems = []
    for model in models:
        for f in model._meta.concrete_fields:
            if not isinstance(f, ForeignKey | OneToOneField):
                continue
            parent, key = f.related_model._meta.db_table, f.target_field.column
            cursor.execute(
                f'SELECT count(*) FROM "{model._meta.db_table}" c LEFT JOIN "{parent}" p ON c."{f.column}" = p."{key}" '
                f'WHERE c."{f.column}" IS NOT NULL AND p."{key}" IS NULL'
            )
            missing = cursor.fetchone()[0]
            if missing:
                problems.append(f"{model._meta.label}.{f.name}: {missing} dangling")
    return problems


def weighted(rng: random.Random, weights: dict):
    """A function drawing one value of `weights` (value -> weight)."""
    values, cumulative, total = list(weights), [], 0.0
    for value in values:
        total += weights[value]
        cumulative.append(total)
    return lambda: rng.choices(values, cum_weights=cumulative)[0]


def _case_by_fraction(variable: str, weights: dict) -> str:
    """A SQL CASE choosing a value of `weights` (value -> weight) from `variable`, uniform in [0, 1)."""
    total, bound, branches = sum(weights.values()), 0.0, []
    for value, weight in list(weights.items())[:-1]:
        bound += weight / total
        branches.append(f"WHEN {variable} < {bound:.6f} THEN '{value}'")
    return f"CASE {' '.join(branches)} ELSE '{list(weights)[-1]}' END"


def _pick_from(variable: str, values: list[str]) -> str:
    """SQL for one of `values`, chosen by `variable`, uniform in [0, 1)."""
    array = ", ".join(f"'{value}'" for value in values)
    return f"(ARRAY[{array}])[1 + floor({variable} * {len(values)})::int]"


def response_samples(rng: random.Random, per_instrument: int = 400) -> dict:
    """Valid response sets per instrument, scored by the real scorer and biased toward the milder answers
    (most rounds are not severe, so a few percent raise alerts, as on a real ward)."""
    samples = {}
    for code, definition in DEFINITIONS.items():
        rows = []
        for _ in range(per_instrument):
            responses = {}
            flagged_items = {item_flag.item for item_flag in definition.item_flags}
            for item in definition.items:
                if item.is_boolean:
                    responses[item.key] = rng.random() < 0.45
                else:  # an item that raises a flag on its own (PHQ-9 item 9) is positive about one time in ten
                    ratio = 0.1 if item.key in flagged_items else 0.55
                    weights = [ratio**index for index in range(len(item.allowed))]
                    responses[item.key] = rng.choices(item.allowed, weights=weights)[0]
            result = score(definition, responses)
            rows.append((json.dumps(responses), result.total, result.band, list(result.flags), result.version))
        samples[code] = rows
    return samples


@dataclass
class PatientRow:
    id: uuid.UUID
    facility_id: uuid.UUID
    created_at: dt.datetime


@dataclass
class EpisodeRow:
    id: uuid.UUID
    patient_id: uuid.UUID
    facility_id: uuid.UUID
    opened_at: dt.datetime
    active_until: dt.datetime
    had_detox: bool
    physician_id: int
    counselor_id: int
    # When the episode was in therapy and in aftercare (None when it never got there).
    therapy: tuple[dt.datetime, dt.datetime] | None = None
    aftercare: tuple[dt.datetime, dt.datetime] | None = None


@dataclass
class Generator:
    conninfo: str
    cursor: object  # a psycopg cursor on the same database, in autocommit mode, for the DDL
    scale: Scale
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    timings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.scale.seed)
        self.first_names = list(Names.first_names_female) + list(Names.first_names_male)
        self.last_name = weighted(self.rng, dict(Names.last_names))
        self.start = self.now - dt.timedelta(days=3 * 365)
        self.facilities: list[tuple[uuid.UUID, str]] = []
        self.staff: dict = {}  # facility id -> role -> [user ids]
        self.patients: list[PatientRow] = []
        self.episodes: list[EpisodeRow] = []
        self.user_count = 0

    def step(self, name: str, work) -> None:
        print(f"  {name} ...", end="", flush=True)
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
        self.timings[name] = round(seconds, 1)
        print(f" {seconds:.1f} s", flush=True)

    def run(self) -> None:
        s = self.scale
        tables = [model._meta.db_table for model in LOADED_MODELS] + [User.facilities.through._meta.db_table]
        indexes: list[str] = []
        self.step("drop secondary indexes", lambda: indexes.extend(drop_secondary_indexes(self.cursor, tables)))
        self.step("facilities and staff", self.load_staff)
        self.step(f"patients ({s.patients:,}) and their logins", self.load_patients)
        self.step("substance use, conditions, allergies, contacts, consents", self.load_patient_records)
        self.step("episodes, transitions, assessments", self.load_episodes)
        self.step(f"observations ({s.observations:,}) and their alerts", self.load_observations)
        if THERAPY_INSTALLED:
            self.step("therapy sessions and their signed progress notes", self.load_therapy)
        if AFTERCARE_INSTALLED:
            self.step("patient check-ins in aftercare", self.load_check_ins)
        self.step(f"reminders ({s.reminders:,})", self.load_reminders)
        self.step(f"audit events ({s.audit_events:,})", self.load_audit_events)
        self.step(f"rebuild {len(indexes)} indexes", lambda: self.rebuild(indexes))
        self.step("check foreign keys", self.check)
        self.step("vacuum analyze", lambda: self.cursor.execute("VACUUM ANALYZE"))

    def rebuild(self, indexes: list[str]) -> None:
        self.cursor.execute("SET maintenance_work_mem = '256MB'")
        for definition in indexes:
            self.cursor.execute(definition)

    def check(self) -> None:
        problems = dangling_foreign_keys(self.cursor, LOADED_MODELS)
        if problems:
            raise SystemExit("The generator broke foreign keys: " + "; ".join(problems))

    def _user(self, table: Table, *, username: str, role: str, password_hash: str, first="", last="") -> int:
        self.user_count += 1
        table.write(
            id=self.user_count,
            password=password_hash,
            username=username,
            first_name=first,
            last_name=last,
            email="",
            is_staff=role == "clinic_admin",
            is_superuser=False,
            is_active=True,
            date_joined=self.start,
            role=role,
        )
        return self.user_count

    def load_staff(self) -> None:
        rng = self.rng
        self.password_hash = make_password(self.scale.password)
        self.user_facilities = []
        self.facilities = [
            (uuid.uuid4(), f"{CITIES[i % len(CITIES)]} Recovery Center {i + 1:02d}")
            for i in range(self.scale.facilities)
        ]
        with Table(self.conninfo, Facility) as table:
            for fid, name in self.facilities:
                table.write(
                    id=fid, name=name, timezone=rng.choice(TIMEZONES), created_at=self.start, updated_at=self.start
                )
        with Table(self.conninfo, User) as table:
            for index, (fid, _) in enumerate(self.facilities):
                self.staff[fid] = {role: [] for role in STAFF_PER_FACILITY}
                for role, count in STAFF_PER_FACILITY.items():
                    for n in range(count):
                        username = f"f{index + 1:02d}-{role.replace('_', '')}-{n + 1:02d}"
                        uid = self._user(
                            table,
                            username=username,
                            role=role,
                            password_hash=self.password_hash,
                            first=rng.choice(self.first_names),
                            last=self.last_name(),
                        )
                        self.staff[fid][role].append(uid)
                        self.user_facilities.append((uid, fid))
        self.staff_count = self.user_count

    def load_patients(self) -> None:
        rng, s = self.rng, self.scale
        channel = weighted(rng, {"sms": 0.45, "email": 0.2, "push": 0.2, "none": 0.15})
        span = self.now - self.start
        per_facility = [0] * len(self.facilities)
        logins = []
        with Table(self.conninfo, Patient) as table:
            for n in range(s.patients):
                index = n % len(self.facilities)
                fid = self.facilities[index][0]
                per_facility[index] += 1
                created_at = self.start + span * (n / s.patients) * rng.uniform(0.98, 1)
                first, preferred = rng.choice(self.first_names), channel()
                uid = None
                if rng.random() < s.patient_login_share:
                    uid = self.user_count + len(logins) + 1
                    logins.append((f"p{n + 1:07d}", fid))
                self.patients.append(PatientRow(uuid.uuid4(), fid, created_at))
                table.write(
                    id=self.patients[-1].id,
                    created_at=created_at,
                    updated_at=min(self.now, created_at + dt.timedelta(days=rng.expovariate(1 / 30))),
                    facility_id=fid,
                    mrn=f"F{index + 1:02d}-{per_facility[index]:06d}",
                    first_name=first,
                    last_name=self.last_name(),
                    date_of_birth=dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55)),
                    sex="female" if rng.random() < 0.4 else ("male" if rng.random() < 0.98 else "unknown"),
                    phone=f"+1617555{rng.randrange(10000):04d}",
                    email=f"{first.lower()}{n}@example.org" if preferred == "email" or rng.random() < 0.5 else "",
                    timezone=rng.choice(TIMEZONES),
                    preferred_channel=preferred,
                    status="active" if rng.random() < 0.9 else "inactive",
                    user_id=uid,
                )
        with Table(self.conninfo, User) as table:
            for username, fid in logins:
                uid = self._user(table, username=username, role="patient", password_hash=self.password_hash)
                self.user_facilities.append((uid, fid))
        with Table(self.conninfo, User.facilities.through, omit=("id",)) as table:  # a serial id
            for uid, fid in self.user_facilities:
                table.write(user_id=uid, facility_id=fid)
        with Table(self.conninfo, MrnSequence) as table:
            for index, (fid, _) in enumerate(self.facilities):
                table.write(facility_id=fid, next_number=per_facility[index] + 1)
        users = User._meta.db_table
        self.cursor.execute(f"SELECT setval(pg_get_serial_sequence('{users}', 'id'), {self.user_count})")

    def load_patient_records(self) -> None:
        rng = self.rng
        substance = weighted(rng, SUBSTANCES)
        with (
            Table(self.conninfo, SubstanceUseHistory) as history,
            Table(self.conninfo, CoOccurringCondition) as conditions,
            Table(self.conninfo, Allergy) as allergies,
            Table(self.conninfo, PatientContact) as contacts,
            Table(self.conninfo, CommunicationConsent) as consents,
        ):
            for patient in self.patients:
                stamp = {"created_at": patient.created_at, "updated_at": patient.created_at, "patient_id": patient.id}
                for used in {"kratom", *(substance() for _ in range(rng.choice((0, 1, 1, 2))))}:
                    history.write(
                        id=uuid.uuid4(),
                        **stamp,
                        substance=used,
                        route="oral" if used in ("kratom", "alcohol") else "smoked",
                        frequency="daily",
                        years_of_use=rng.randrange(1, 15),
                        last_use=patient.created_at - dt.timedelta(hours=rng.randrange(6, 96)),
                    )
                if rng.random() < 0.35:
                    name, code = rng.choice(
                        [
                            ("Generalized anxiety disorder", "F41.1"),
                            ("Major depressive disorder", "F33.1"),
                            ("PTSD", "F43.10"),
                        ]
                    )
                    conditions.write(id=uuid.uuid4(), **stamp, name=name, icd10_code=code, status="active")
                if rng.random() < 0.2:
                    allergen = rng.choice(["Penicillin", "Sulfa", "Codeine"])
                    allergies.write(id=uuid.uuid4(), **stamp, substance=allergen, severity="moderate")
                contacts.write(
                    id=uuid.uuid4(),
                    **stamp,
                    kind="emergency",
                    name=f"{rng.choice(self.first_names)} {self.last_name()}",
                    relationship=rng.choice(["Sister", "Brother", "Mother", "Partner", "Friend", "Sponsor"]),
                    phone=f"+1617555{rng.randrange(10000):04d}",
                    may_contact=True,
                )
                if rng.random() < 0.7:
                    consents.write(
                        id=uuid.uuid4(),
                        **stamp,
                        channel=rng.choice(["sms", "email", "push"]),
                        action="opt_in",
                        source="paper_form",
                        occurred_at=patient.created_at,
                    )

    def load_episodes(self) -> None:
        rng = self.rng
        current_stage = weighted(rng, CURRENT_STAGE)
        with (
            Table(self.conninfo, Episode) as episodes,
            Table(self.conninfo, EpisodeTransition) as transitions,
            Table(self.conninfo, Assessment) as assessments,
        ):
            for patient in self.patients:
                team = self.staff[patient.facility_id]
                previous = None
                rounds = 2 if rng.random() < self.scale.readmission_share else 1
                for round_ in range(rounds):
                    stage = current_stage() if round_ == rounds - 1 else Stage.DISCHARGED
                    opened = patient.created_at + dt.timedelta(days=0 if round_ == 0 else rng.randrange(120, 300))
                    opened = min(opened, self.now - dt.timedelta(days=1))
                    skip_detox = stage != Stage.DETOX and rng.random() < 0.2
                    steps = [s for s in JOURNEY[: JOURNEY.index(stage) + 1] if not (skip_detox and s == Stage.DETOX)]
                    moments = [opened]
                    for _ in steps[1:]:
                        moments.append(min(self.now, moments[-1] + dt.timedelta(days=rng.uniform(1, 20))))
                    closed = moments[-1] if stage == Stage.DISCHARGED else None
                    eid, physician = uuid.uuid4(), rng.choice(team["physician"])
                    counselor = rng.choice(team["counselor"])
                    episodes.write(
                        id=eid,
                        created_at=opened,
                        updated_at=moments[-1],
                        patient_id=patient.id,
                        stage=stage,
                        setting=None
                        if stage == Stage.ASSESSMENT
                        else rng.choice(["inpatient", "residential", "outpatient"]),
                        opened_at=opened,
                        opened_by_id=rng.choice(team["front_desk"] + team["nurse"]),
                        closed_at=closed,
                        discharge_reason="completed" if closed else "",
                        previous_episode_id=previous,
                        physician_id=physician,
                        nurse_id=rng.choice(team["nurse"]),
                        primary_counselor_id=counselor,
                        case_manager_id=rng.choice(team["case_manager"]),
                    )
                    for before, after, moment in zip(steps, steps[1:], moments[1:], strict=False):
                        skipped = before == Stage.ASSESSMENT and after == Stage.THERAPY
                        transitions.write(
                            id=uuid.uuid4(),
                            created_at=moment,
                            updated_at=moment,
                            episode_id=eid,
                            from_stage=before,
                            to_stage=after,
                            reason="Mild dependence, no withdrawal risk." if skipped else "",
                            category="completed" if after == Stage.DISCHARGED else "",
                            actor_id=physician,
                            occurred_at=moment,
                        )
                    decided = moments[1] if len(moments) > 1 else None
                    assessments.write(
                        id=uuid.uuid4(),
                        created_at=opened,
                        updated_at=decided or opened,
                        episode_id=eid,
                        status="completed" if decided else "draft",
                        support_system=rng.choice(["strong", "moderate", "limited"]),
                        safe_living_environment=True,
                        withdrawal_seizure_or_delirium_history=False,
                        serious_medical_comorbidity=False,
                        readiness_to_change=rng.choice(["contemplation", "preparation", "action"]),
                        recommended_setting=rng.choice(["outpatient", "inpatient"]) if decided else "",
                        recommended_at=decided,
                        recommended_by_id=physician if decided else None,
                        accepted_setting=rng.choice(["inpatient", "residential", "outpatient"]) if decided else "",
                        decided_at=decided,
                        decided_by_id=physician if decided else None,
                        created_by_id=physician,
                    )
                    until = [*moments[1:], closed or self.now]
                    spans = {step: (moments[i], until[i]) for i, step in enumerate(steps)}
                    self.episodes.append(
                        EpisodeRow(
                            eid,
                            patient.id,
                            patient.facility_id,
                            opened,
                            closed or self.now,
                            Stage.DETOX in steps,
                            physician,
                            counselor,
                            spans.get(Stage.THERAPY),
                            spans.get(Stage.AFTERCARE),
                        )
                    )
                    previous = eid

    # The three big tables are generated by PostgreSQL itself (INSERT ... SELECT over generate_series), from
    # plans computed here: a Python loop over millions of rows would take most of the run.

    def _plan_tables(self) -> None:
        """Session tables the INSERT ... SELECTs read: episodes with their observation counts, patients by
        number, scored response samples, and the severity of each flag's alert."""
        c = self.cursor
        c.execute(
            "CREATE TEMP TABLE plan_episode (episode_id uuid, patient_id uuid, physician_id int,"
            " opened_at timestamptz, active_until timestamptz, had_detox bool, recorders int[], n int,"
            " counselor_id int, therapy_from timestamptz, therapy_until timestamptz, aftercare_from timestamptz,"
            " aftercare_until timestamptz)"
        )
        c.execute(
            "CREATE TEMP TABLE plan_patient (k int PRIMARY KEY, patient_id uuid, facility_id uuid,"
            " created_at timestamptz, nurses int[])"
        )
        c.execute(
            "CREATE TEMP TABLE plan_sample (instrument text, idx int, responses jsonb, total int, band text,"
            " flags jsonb, version text, PRIMARY KEY (instrument, idx))"
        )
        c.execute("CREATE TEMP TABLE plan_flag (flag text PRIMARY KEY, severity text)")
        recorders = {fid: team["nurse"] + team["physician"] for fid, team in self.staff.items()}
        with c.copy("COPY plan_episode FROM STDIN") as copy:
            for episode, n in zip(self.episodes, self._observation_counts(), strict=True):
                row = (episode.id, episode.patient_id, episode.physician_id, episode.opened_at, episode.active_until)
                therapy, aftercare = episode.therapy or (None, None), episode.aftercare or (None, None)
                row = (*row, episode.had_detox, recorders[episode.facility_id], n, episode.counselor_id)
                copy.write_row((*row, *therapy, *aftercare))
        with c.copy("COPY plan_patient FROM STDIN") as copy:
            for k, patient in enumerate(self.patients, start=1):
                nurses = self.staff[patient.facility_id]["nurse"]
                copy.write_row((k, patient.id, patient.facility_id, patient.created_at, nurses))
        with c.copy("COPY plan_sample FROM STDIN") as copy:
            for instrument, rows in response_samples(self.rng, SAMPLES_PER_INSTRUMENT).items():
                for idx, (responses, points, band, flags, version) in enumerate(rows, start=1):
                    copy.write_row((instrument, idx, responses, points, band, json.dumps(flags), version))
        with c.copy("COPY plan_flag FROM STDIN") as copy:
            for flag, policy in FLAG_ALERTS.items():
                copy.write_row((flag, str(policy.severity)))
        c.execute("ANALYZE plan_episode; ANALYZE plan_patient; ANALYZE plan_sample")

    def _observation_counts(self) -> list[int]:
        """How many observations each episode gets: proportional to its weight, adding up exactly."""
        weights = [DETOX_EPISODE_WEIGHT if episode.had_detox else 1.0 for episode in self.episodes]
        total, wanted = sum(weights), self.scale.observations
        counts = [int(weight * wanted / total) for weight in weights]
        for index in self.rng.choices(range(len(weights)), weights=weights, k=wanted - sum(counts)):
            counts[index] += 1
        return counts

    def _insert_select(self, model, values: dict[str, str], source: str, params: dict | None = None) -> None:
        """INSERT INTO model's table SELECT `values` (column -> SQL expression) FROM `source`; every other
        column gets the model's default, so a column added later does not break the generator."""
        table = Table(self.conninfo, model)
        columns, expressions, defaults = [], [], dict(params or {})
        for f in table.fields:
            columns.append(f'"{f.column}"')
            if f.column in values:
                expressions.append(values[f.column])
                continue
            default = table.defaults[f.attname]
            if f.attname in table.json and default is not None:
                default = json.dumps(default)
            defaults[f"default_{f.column}"] = default
            expressions.append(f"%(default_{f.column})s")
        sql = (
            f'INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) SELECT {", ".join(expressions)} FROM {source}'
        )
        self.cursor.execute("SET session_replication_role = replica")
        try:
            self.cursor.execute(sql, defaults)
        finally:
            self.cursor.execute("SET session_replication_role = origin")

    def load_observations(self) -> None:
        self._plan_tables()
        detox = _case_by_fraction("x.r", DETOX_INSTRUMENTS)
        other = _case_by_fraction("x.r", OTHER_INSTRUMENTS)
        self._insert_select(
            Observation,
            {
                "id": "gen_random_uuid()",
                "created_at": "x.t",
                "updated_at": "x.t",
                "episode_id": "x.episode_id",
                "instrument": "s.instrument",
                "responses": "s.responses",
                "total": "s.total",
                "band": "s.band",
                "flags": "s.flags",
                "definition_version": "s.version",
                "observed_at": "x.t",
                "recorded_by_id": "x.recorder",
            },
            f"""(SELECT p.episode_id, p.had_detox, random() AS r,
                        1 + floor(random() * {SAMPLES_PER_INSTRUMENT})::int AS idx,
                        p.opened_at + (p.active_until - p.opened_at) * random() AS t,
                        p.recorders[1 + floor(random() * cardinality(p.recorders))::int] AS recorder
                 FROM plan_episode p, generate_series(1, p.n)) x
                JOIN plan_sample s
                  ON s.idx = x.idx AND s.instrument = CASE WHEN x.had_detox THEN {detox} ELSE {other} END""",
        )
        # The alert treatment.services raises for each flag of a score; nine in ten acknowledged since.
        self._insert_select(
            Alert,
            {
                "id": "gen_random_uuid()",
                "created_at": "x.observed_at",
                "updated_at": "x.observed_at",
                "patient_id": "x.patient_id",
                "episode_id": "x.episode_id",
                "kind": "x.instrument || '_' || x.flag",
                "severity": "coalesce(pf.severity, %(other_severity)s)",
                "reason": "'Score ' || x.total || ' (' || x.band || ').'",
                "target_user_id": "x.physician_id",
                "dedupe_key": "'observation:' || x.id || ':' || x.flag",
                "acknowledged_at": "CASE WHEN x.ack THEN x.observed_at + interval '1 minute' * x.minutes END",
                "acknowledged_by_id": "CASE WHEN x.ack THEN x.physician_id END",
            },
            """(SELECT o.id, o.observed_at, o.episode_id, o.instrument, o.total, o.band, p.patient_id, p.physician_id,
                       f.flag, random() < 0.9 AS ack, 2 + floor(random() * 88) AS minutes
                FROM treatment_observation o JOIN plan_episode p ON p.episode_id = o.episode_id,
                     jsonb_array_elements_text(o.flags) f(flag)
                WHERE o.flags <> '[]'::jsonb) x
               LEFT JOIN plan_flag pf ON pf.flag = x.flag""",
            {"other_severity": str(OTHER_FLAG_ALERT.severity)},
        )

    def load_therapy(self) -> None:
        """Weekly individual sessions while in therapy (up to 12; nine in ten attended), each attended one with
        a signed DAP note; a session next week for those still in therapy."""
        modality = _pick_from("x.r", ["cbt", "motivational_interviewing", "relapse_prevention", "dbt"])
        sessions = """(SELECT p.episode_id, p.patient_id, p.counselor_id, w, random() AS r,
                              p.therapy_from + interval '1 week' * w + interval '1 day' AS starts_at
                       FROM plan_episode p,
                            generate_series(0, least(12, floor(extract(epoch FROM p.therapy_until - p.therapy_from)
                                                                / 604800)::int)) w
                       WHERE p.therapy_from IS NOT NULL) x"""
        self._insert_select(
            TherapySession,
            {
                "id": "gen_random_uuid()",
                "created_at": "x.starts_at - interval '7 days'",
                "updated_at": "least(x.starts_at, %(now)s)",
                "episode_id": "x.episode_id",
                "patient_id": "x.patient_id",
                "kind": "'individual'",
                "modality": modality,
                "counselor_id": "x.counselor_id",
                "starts_at": "x.starts_at",
                "ends_at": "x.starts_at + interval '50 minutes'",
                "location": "'Room 2'",
                "status": "CASE WHEN x.starts_at > %(now)s THEN 'scheduled' WHEN x.r < 0.9 THEN 'attended'"
                " ELSE 'no_show' END",
                "attendance_recorded_at": "CASE WHEN x.starts_at <= %(now)s THEN x.starts_at + interval '1 hour' END",
                "attendance_recorded_by_id": "CASE WHEN x.starts_at <= %(now)s THEN x.counselor_id END",
                "scheduled_by_id": "x.counselor_id",
            },
            sessions,
            {"now": self.now},
        )
        self._insert_select(
            ProgressNote,
            {
                "id": "gen_random_uuid()",
                "created_at": "s.ends_at",
                "updated_at": "s.ends_at + interval '1 hour'",
                "patient_id": "s.patient_id",
                "episode_id": "s.episode_id",
                "session_id": "s.id",
                "format": "'dap'",
                "data": "'Attended on time; reports cravings at dusk, used the delay plan twice this week.'",
                "assessment": "'Engaged; coping skills improving.'",
                "plan": "'Continue CBT; practise urge surfing; review triggers next session.'",
                "author_id": "s.counselor_id",
                "signed_at": "s.ends_at + interval '1 hour'",
                "content_hash": "encode(sha256(s.id::text::bytea), 'hex')",
            },
            "therapy_therapysession s WHERE s.status = 'attended'",
        )

    def load_check_ins(self) -> None:
        """Daily self check-ins in aftercare (seven days in ten, up to 90 days), mostly low craving."""
        self._insert_select(
            CheckIn,
            {
                "id": "gen_random_uuid()",
                "created_at": "x.at",
                "updated_at": "x.at",
                "patient_id": "x.patient_id",
                "episode_id": "x.episode_id",
                "craving": "least(10, floor(x.r * x.r * 11))::int",
                "mood": "3 + floor(random() * 8)::int",
                "used": "random() < 0.04",
                "triggers": "CASE WHEN x.r > 0.7 THEN '[\"stress\"]'::jsonb ELSE '[]'::jsonb END",
                "note": "''",
                "checked_in_at": "x.at",
                "local_date": "(x.at AT TIME ZONE 'America/New_York')::date",
            },
            """(SELECT p.episode_id, p.patient_id, random() AS r,
                       p.aftercare_from + interval '1 day' * d + interval '20 hours' AS at
                FROM plan_episode p,
                     generate_series(0, least(89, floor(extract(epoch FROM p.aftercare_until - p.aftercare_from)
                                                         / 86400)::int - 1)) d
                WHERE p.aftercare_from IS NOT NULL AND random() < 0.7) x""",
        )

    def load_reminders(self) -> None:
        status = _case_by_fraction("x.r_status", REMINDER_STATUSES)
        patient_kind = _pick_from("x.r_kind", PATIENT_REMINDER_KINDS)
        staff_kind = _pick_from("x.r_kind", STAFF_REMINDER_KINDS)
        two_weeks = 60 * 24 * 14
        self._insert_select(
            Reminder,
            {
                "id": "gen_random_uuid()",
                "created_at": "y.send_at - interval '1 day'",
                "updated_at": "y.send_at",
                "facility_id": "y.facility_id",
                "patient_id": "CASE WHEN y.to_patient THEN y.patient_id END",
                "staff_id": "CASE WHEN NOT y.to_patient THEN y.nurse END",
                "kind": "y.kind",
                "channel": f"CASE WHEN y.status = 'suppressed' THEN '' ELSE {_pick_from('y.r_channel', CHANNELS)} END",
                "send_at": "y.send_at",
                "deliver_after": "y.send_at",
                "status": "y.status",
                "sent_at": "CASE WHEN y.status = 'sent' THEN y.send_at + interval '1 second' * (1 + y.r_time * 89) END",
                "attempts": "CASE WHEN y.status IN ('sent', 'failed') THEN 1 ELSE 0 END",
                "last_error": "CASE WHEN y.status = 'failed' THEN 'provider_unavailable' ELSE '' END",
                "suppressed_reason": "CASE WHEN y.status = 'suppressed' THEN 'no_channel' ELSE '' END",
                "idempotency_key": "replace(gen_random_uuid()::text, '-', '')",
                "context": """CASE WHEN y.kind = 'appointment'
                    THEN jsonb_build_object('at', to_char((y.send_at + interval '1 day') AT TIME ZONE 'UTC',
                                                          'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'), 'provider', 'R. Lee')
                    ELSE '{}'::jsonb END""",
            },
            f"""(SELECT x.*, p.patient_id, p.facility_id,
                        p.nurses[1 + floor(x.r_staff * cardinality(p.nurses))::int] AS nurse,
                        CASE WHEN x.to_patient THEN {patient_kind} ELSE {staff_kind} END AS kind,
                        CASE WHEN x.status = 'scheduled'
                             THEN %(now)s::timestamptz + interval '1 minute' * (floor(x.r_time * {two_weeks + 30}) - 30)
                             ELSE p.created_at + (%(now)s::timestamptz - p.created_at) * x.r_time END AS send_at
                 FROM (SELECT 1 + floor(random() * %(patients)s)::int AS k, {status} AS status,
                              random() < 0.8 AS to_patient, random() AS r_time,
                              random() AS r_kind, random() AS r_staff, random() AS r_channel
                       FROM (SELECT random() AS r_status FROM generate_series(1, %(count)s)) x) x
                 JOIN plan_patient p ON p.k = x.k) y""",
            {"now": self.now, "patients": len(self.patients), "count": self.scale.reminders},
        )

    def load_audit_events(self) -> None:
        count = self.scale.audit_events
        self._insert_select(
            AuditEvent,
            {
                "id": "x.n",
                "occurred_at": "%(year_ago)s::timestamptz + interval '1 second' * (31536000.0 * x.n / %(count)s)",
                "actor_id": "x.actor",
                "actor_username": "'user-' || x.actor",
                "actor_role": "'nurse'",
                "action": _pick_from("x.r1", ["view", "list", "list", "create", "update"]),
                "model": _pick_from("x.r2", ["patients.patient", "treatment.observation", "treatment.episode"]),
                "object_id": "p.patient_id::text",
                "patient_id": "p.patient_id",
                "facility_id": "p.facility_id",
                "source": "'api'",
                "request_id": "replace(gen_random_uuid()::text, '-', '')",
                "ip_address": "'10.0.0.1'",
                "user_agent": "'bench'",
            },
            """(SELECT n, 1 + floor(random() * %(patients)s)::int AS k, 1 + floor(random() * %(staff)s)::int AS actor,
                       random() AS r1, random() AS r2
                FROM generate_series(1, %(count)s) n) x
               JOIN plan_patient p ON p.k = x.k""",
            {
                "year_ago": self.now - dt.timedelta(days=365),
                "count": count,
                "patients": len(self.patients),
                "staff": self.staff_count,
            },
        )
        events = AuditEvent._meta.db_table
        self.cursor.execute(f"SELECT setval(pg_get_serial_sequence('{events}', 'id'), {max(count, 1)})")

    def counts(self) -> dict[str, int]:
        return {model._meta.label: model.objects.count() for model in LOADED_MODELS}
