from __future__ import annotations

from typing import Annotated

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, get, put
from litestar.params import FromPath, JSONBody
from msgspec import Meta, Struct

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import Limit, Offset, Page, PathId, RequestBody, page, page_of, response
from incidentcore.model import Channel, NotificationPreference, Severity
from incidentcore.permissions import Action
from incidentcore.ports import Paged
from incidentcore.services import Preferences
from incidentcore.validation import ADDRESS_MAX


class PreferenceRequest(RequestBody):
    enabled: bool
    address: Annotated[str, Meta(max_length=ADDRESS_MAX)] | None = None
    min_severity: Severity | None = None


class PreferenceResponse(Struct):
    user_id: int
    channel: Channel
    enabled: bool
    address: str | None
    min_severity: Severity | None


class PreferencePage(Page[PreferenceResponse]):
    """A page of a user's notification preferences."""


SELF = [permits(Action.SELF_MANAGE)]
OTHERS = [permits(Action.PREFERENCE_MANAGE_OTHERS)]


def paged_preferences(found: list[NotificationPreference], limit: int, offset: int) -> PreferencePage:
    """A user has at most one preference per channel: the use case returns them all, paged here."""
    paged = Paged(found[offset : offset + limit], len(found), page(limit, offset))
    return page_of(PreferencePage, paged)


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
        return response(preference, PreferenceResponse)

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
        return response(preference, PreferenceResponse)
