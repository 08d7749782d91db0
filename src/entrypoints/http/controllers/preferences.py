from __future__ import annotations

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, get, put
from litestar.params import FromPath, JSONBody

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.parameters import Limit, Offset, PathId, page
from entrypoints.http.problems import responses
from entrypoints.http.schemas import (
    PreferencePage,
    PreferenceRequest,
    PreferenceResponse,
    page_of,
    preference_response,
)
from incidentcore.model import Channel, NotificationPreference
from incidentcore.permissions import Action
from incidentcore.ports import Paged
from incidentcore.services import Preferences

SELF = [permits(Action.SELF_MANAGE)]
OTHERS = [permits(Action.PREFERENCE_MANAGE_OTHERS)]


def paged_preferences(found: list[NotificationPreference], limit: int, offset: int) -> PreferencePage:
    """A user has at most one preference per channel: the use case returns them all, paged here."""
    paged = Paged(found[offset : offset + limit], len(found), page(limit, offset))
    return page_of(PreferencePage, paged, [preference_response(p) for p in paged.items])


class PreferencesController(Controller):
    path = "/v1/notification-preferences"
    tags = ["notification preferences"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY

    @get("/me", summary="My notification preferences", guards=SELF, responses=responses(400, 401))
    @inject
    async def list_mine(
        self, actor: Actor, preferences: FromDishka[Preferences], limit: Limit = 50, offset: Offset = 0
    ) -> PreferencePage:
        """A user with no preferences is paged by email."""
        return paged_preferences(await preferences.list_for(actor, actor.id), limit, offset)

    @put(
        "/me/{channel:str}",
        summary="Set my preference for a channel",
        guards=SELF,
        responses=responses(400, 401, 413),
    )
    @inject
    async def set_mine(
        self, actor: Actor, channel: FromPath[Channel], data: JSONBody[PreferenceRequest], preferences: FromDishka[Preferences]
    ) -> PreferenceResponse:
        preference = await preferences.set_for(
            actor, actor.id, channel, enabled=data.enabled, address=data.address, min_severity=data.min_severity
        )
        return preference_response(preference)

    @get(
        "/{user_id:int}",
        summary="A user's notification preferences (admin)",
        guards=OTHERS,
        responses=responses(400, 401, 403, 404),
    )
    @inject
    async def list_for_user(
        self,
        actor: Actor,
        user_id: PathId,
        preferences: FromDishka[Preferences],
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> PreferencePage:
        return paged_preferences(await preferences.list_for(actor, user_id), limit, offset)

    @put(
        "/{user_id:int}/{channel:str}",
        summary="Set a user's preference for a channel (admin)",
        guards=OTHERS,
        responses=responses(400, 401, 403, 404, 413),
    )
    @inject
    async def set_for_user(
        self,
        actor: Actor,
        user_id: PathId,
        channel: FromPath[Channel],
        data: JSONBody[PreferenceRequest],
        preferences: FromDishka[Preferences],
    ) -> PreferenceResponse:
        preference = await preferences.set_for(
            actor, user_id, channel, enabled=data.enabled, address=data.address, min_severity=data.min_severity
        )
        return preference_response(preference)
