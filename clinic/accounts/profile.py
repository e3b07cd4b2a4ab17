"""What `GET /api/v1/me/` says about a user. Domain apps add their part (e.g. the linked patient) by
registering an extension in their AppConfig.ready, so the platform needs no knowledge of them."""

from collections.abc import Callable

from .models import User

_extensions: list[Callable[[User], dict]] = []


def register_profile_extension(extension: Callable[[User], dict]) -> None:
    if extension not in _extensions:
        _extensions.append(extension)


def user_profile(user: User) -> dict:
    profile = {
        "id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "facilities": [{"id": str(f.id), "name": f.name} for f in user.facilities.all()],
    }
    for extension in _extensions:
        profile.update(extension(user))
    return profile
