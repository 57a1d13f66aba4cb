"""What the skill remembers about a site, and the check-ins it promised to make later."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, time, tzinfo
from typing import assert_never

from skill.care.followup import next_due
from skill.care.plan import Plan
from skill.care.store import Preferences
from skill.care.worker import StoreThread
from skill.language import keys
from skill.language.responses import Say
from skill.site.actions import (
    CancelFollowUp,
    Forget,
    MemoryAction,
    Prefer,
    Recall,
    ScheduleFollowUp,
)

log = logging.getLogger(__name__)

Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Memory:
    """Preferences and follow-ups per site, backed by the private store (or by nothing).

    Preferences are read on every intent, so they are kept in memory (loaded once, and
    updated with every change); every store call runs on the store's own thread.
    """

    def __init__(
        self,
        store: StoreThread | None,
        *,
        tz: tzinfo,
        morning: time,
        tonight: time,
        now: Now = utc_now,
    ) -> None:
        self._store = store
        self._tz = tz
        self._morning = morning
        self._tonight = tonight
        self._now = now
        self._preferences: dict[str, Preferences] = {}
        self.on_schedule: Callable[[], None] | None = None
        """Told whenever follow-ups were added or cancelled."""

    async def load(self) -> None:
        """Read every site's preferences from the store (once, at startup)."""
        if self._store is not None:
            self._preferences = await self._store.all_preferences()

    def preferences(self, site_id: str) -> Preferences:
        """The site's preferences (empty without a store, or when none were saved)."""
        return self._preferences.get(site_id) or Preferences()

    async def act(self, site_id: str, action: MemoryAction) -> list[Say]:
        """Carry out a memory action; the lines to say."""
        if self._store is None:
            return [Say(keys.ERROR_GENERIC)]
        match action:
            case Prefer():
                return await self._prefer(site_id, action)
            case Recall():
                return self.recall(site_id)
            case Forget():
                await self._store.forget_site(site_id)
                self._preferences.pop(site_id, None)
                log.info("Forgot everything stored for site %s", site_id)
                self._scheduled()
                return [Say(keys.FORGET_DONE)]
            case ScheduleFollowUp():
                now = self._now()
                due = next_due(
                    action.when,
                    now.astimezone(self._tz),
                    tz=self._tz,
                    morning=self._morning,
                    tonight=self._tonight,
                )
                await self._store.add_follow_up(site_id, action.when, due, now=now)
                log.info("Follow-up (%s) scheduled on site %s", action.when, site_id)
                self._scheduled()
                if not action.announce:
                    return []
                morning = action.when == "morning"
                return [Say(keys.FOLLOWUP_MORNING if morning else keys.FOLLOWUP_TONIGHT)]
            case CancelFollowUp():
                cancelled = await self._store.cancel_follow_ups(site_id)
                self._scheduled()
                return [Say(keys.FOLLOWUP_CANCELLED if cancelled else keys.FOLLOWUP_NONE)]
            case _:
                assert_never(action)

    async def save_plan(self, site_id: str, plan: Plan) -> None:
        """Keep the site's plan (an empty one erases it); the rest of its preferences stay."""
        if self._store is None:
            return
        await self._update(site_id, plan=plan)
        log.info("Saved the plan for site %s", site_id)

    async def _update(self, site_id: str, **changes: object) -> None:
        """Change some of the site's stored preferences, and the copy kept in memory."""
        assert self._store is not None
        saved = await self._store.update_preferences(site_id, **changes)
        if saved.is_empty():
            self._preferences.pop(site_id, None)
        else:
            self._preferences[site_id] = saved

    async def _prefer(self, site_id: str, action: Prefer) -> list[Say]:
        assert self._store is not None
        if not action.changes:
            return [Say(keys.RECALL_NONE)] if self.preferences(site_id).is_empty() else []
        await self._update(site_id, **dict(action.changes))
        log.info("Saved %d preference(s) for site %s", len(action.changes), site_id)
        names = dict(action.changes).get("names")
        if isinstance(names, tuple) and names:
            return [Say(keys.PREFER_NAME_SAVED, (("name", " and ".join(names)),))]
        return [Say(keys.PREFER_SAVED)]

    def recall(self, site_id: str) -> list[Say]:
        """Read back what is remembered, then how to erase it."""
        prefs = self.preferences(site_id)
        if prefs.is_empty():
            return [Say(keys.RECALL_NONE)]
        lines = [Say(keys.RECALL_INTRO)]
        if prefs.routine:
            lines.append(Say(keys.RECALL_ROUTINE, (("routine", prefs.routine),)))
        if prefs.pattern:
            lines.append(Say(keys.RECALL_PATTERN, (("pattern", spoken_value(prefs.pattern)),)))
        if prefs.style:
            lines.append(Say(keys.RECALL_STYLE, (("style", spoken_value(prefs.style)),)))
        if prefs.quiet:
            lines.append(Say(keys.RECALL_QUIET))
        if prefs.playlist:
            lines.append(Say(keys.RECALL_PLAYLIST, (("playlist", prefs.playlist),)))
        if prefs.names:
            lines.append(Say(keys.RECALL_NAMES, (("names", " and ".join(prefs.names)),)))
        lines.append(Say(keys.RECALL_OUTRO))
        return lines

    def _scheduled(self) -> None:
        if self.on_schedule is not None:
            self.on_schedule()


def spoken_value(value: str) -> str:
    """A stored value as the voice says it."""
    spoken = {"478": "four seven eight", "fewer-words": "fewer words", "chime": "chimes"}
    return (spoken | {"both": "voice and chimes"}).get(value, value)
