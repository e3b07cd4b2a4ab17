"""Cost of one password check with Django's default Argon2 parameters and with ours.

Run: .venv/bin/python bench/password_hashing.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings.local")
django.setup()

from django.contrib.auth.hashers import Argon2PasswordHasher  # noqa: E402

from clinic.accounts.hashers import ClinicArgon2PasswordHasher  # noqa: E402


def measure(hasher, rounds: int = 15) -> float:
    encoded = hasher.encode("correct horse battery staple", hasher.salt())
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        assert hasher.verify("correct horse battery staple", encoded)
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


for label, hasher in (
    ("Django default (m=100 MiB, t=2, p=8)", Argon2PasswordHasher()),
    ("clinic (m=19 MiB, t=2, p=1)", ClinicArgon2PasswordHasher()),
):
    print(f"{label:40s} {measure(hasher):7.1f} ms per login (median)")
