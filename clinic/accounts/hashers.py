from django.contrib.auth.hashers import Argon2PasswordHasher


class ClinicArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's recommended minimum (m=19 MiB, t=2, p=1).

    Django's default (m=100 MiB, t=2, p=8) costs about 130 ms per login on the 2-core servers we target,
    which makes the login endpoint an easy CPU exhaustion target. These parameters cost a few tens of ms
    (measured in docs/security.md) and still meet OWASP's Password Storage Cheat Sheet. Hashes made with
    other parameters are upgraded on the next successful login (Django's must_update).
    """

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
