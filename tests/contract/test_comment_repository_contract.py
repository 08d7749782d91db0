"""CommentRepository: comments of one incident, oldest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_incident, stored_user

from incidentcore.model import Comment
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


async def test_comments_of_an_incident_oldest_first(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        author = await stored_user(uow)
        incident = await stored_incident(uow)
        other = await stored_incident(uow)
        later = await uow.comments.add(Comment(incident.id, author.id, "fixed", T0 + timedelta(minutes=5)))
        first = await uow.comments.add(Comment(incident.id, author.id, "looking", T0))
        tie = await uow.comments.add(Comment(incident.id, author.id, "also", T0))
        await uow.comments.add(Comment(other.id, author.id, "elsewhere", T0))
        await uow.commit()

    async with uow_factory() as uow:
        page = await uow.comments.list_for_incident(incident.id, Page())
        second_page = await uow.comments.list_for_incident(incident.id, Page(limit=2, offset=2))
    assert page.items == [first, tie, later]
    assert page.total == 3
    assert second_page.items == [later]
    assert second_page.total == 3
    assert first.id > 0
