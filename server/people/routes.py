"""`GET /api/v1/people`: the care team's directory, so a clinician can add a colleague to a
patient's room by name rather than by an opaque user id.

What it may reveal is the point of the design. Care-team accounts (clinicians, admins, health-bus
assistants) are colleagues: found by a prefix of their username or display name. Caregivers are
family members: found only by their exact username, which the clinician got from the family, so
the directory never lists the relatives of a care network's patients. Patients and disabled
accounts are never found (a patient is named when their room is created). The caller's own
account is left out. At most `LIMIT` answers, no count, so the endpoint is not a way to dump the
user table.
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from server.api.context import services
from server.api.routing import json_response, route, validation_error
from server.auth.accounts import find_people
from server.auth.principal import Principal
from server.errors import ApiError

LIMIT = 20
CARE_TEAM = ("clinician", "admin", "assistant")
FAMILY = ("caregiver",)
SEARCHERS = ("clinician", "admin", "assistant")


class PeopleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120)]


def _query(request: web.Request) -> PeopleQuery:
    params = dict(request.query)
    if len(params) != len(request.query):
        raise ApiError(
            "validation_failed",
            "a query parameter is repeated",
            details={"problems": [{"loc": "query", "type": "repeated"}]},
        )
    try:
        return PeopleQuery.model_validate(params)
    except ValidationError as exc:
        raise validation_error(exc) from None


@route(
    "GET",
    "/api/v1/people",
    roles=SEARCHERS,
    tags=("rooms",),
    summary="Care-team members by name prefix; a caregiver by exact username.",
)
async def search_people(request: web.Request, p: Principal, _b: None) -> web.Response:
    people = await find_people(
        services(request).db,
        _query(request).q,
        prefix_roles=CARE_TEAM,
        exact_roles=FAMILY,
        exclude_user_id=p.user_id,
        limit=LIMIT,
    )
    return json_response(
        {
            "people": [
                {
                    "user_id": r.user_id,
                    "username": r.username,
                    "display_name": r.display_name,
                    "role": r.role,
                }
                for r in people
            ]
        }
    )
