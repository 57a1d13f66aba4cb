"""What the skill remembers about a site, and the check-ins it promised to make later."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, time, tzinfo

from skill.care.followup import next_due
from skill.care.store import Preferences, Store
from skill.language import keys
from skill.site.handlers import Action, CancelFollowUp, FollowUp, Forget, Prefer, Recall, Say

log = logging.getLogger(__name__)

Now = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Memory:
    """Preferences and follow-ups per site, backed by the private store (or by nothing)."""

    def __init__(
        self,
        store: Store | None,
        *,
        tz: tzinfo,
        morning: time,
        evening: time,
        now: Now = utc_now,
    ) -> None:
        self._store = store
        self._tz = tz
        self._morning = morning
        self._evening = evening
        self._now = now
        self.on_schedule: Callable[[], None] | None = None
        """Told whenever follow-ups were added or cancelled."""

    @property
    def store(self) -> Store | None:
        """The store, when storage is on."""
        return self._store

    def preferences(self, site_id: str) -> Preferences:
        """The site's preferences (empty without a store)."""
        return self._store.preferences(site_id) if self._store else Preferences()

    def act(self, site_id: str, action: Action) -> list[Say]:
        """Carry out a memory action; the lines to say."""
        if self._store is None:
            return [Say(keys.ERROR_GENERIC)]
        if isinstance(action, Prefer):
            return self._prefer(site_id, action)
        if isinstance(action, Recall):
            return self.recall(site_id)
        if isinstance(action, Forget):
            self._store.forget_site(site_id)
            log.info("Forgot everything stored for site %s", site_id)
            self._scheduled()
            return [Say(keys.FORGET_DONE)]
        if isinstance(action, FollowUp):
            now = self._now()
            due = next_due(
                action.when,
                now.astimezone(self._tz),
                tz=self._tz,
                morning=self._morning,
                evening=self._evening,
            )
            self._store.add_follow_up(site_id, action.when, due, now=now)
            log.info("Follow-up (%s) scheduled on site %s", action.when, site_id)
            self._scheduled()
            morning = action.when == "morning"
            return [Say(keys.FOLLOWUP_MORNING if morning else keys.FOLLOWUP_TONIGHT)]
        if isinstance(action, CancelFollowUp):
            cancelled = self._store.cancel_follow_ups(site_id)
            self._scheduled()
            return [Say(keys.FOLLOWUP_CANCELLED if cancelled else keys.FOLLOWUP_NONE)]
        return []

    def _prefer(self, site_id: str, action: Prefer) -> list[Say]:
        assert self._store is not None
        if not action.changes:
            return [Say(keys.RECALL_NONE)] if self.preferences(site_id).is_empty() else []
        self._store.update_preferences(site_id, **dict(action.changes))
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
            lines.append(Say(keys.RECALL_PATTERN, (("pattern", _spoken(prefs.pattern)),)))
        if prefs.style:
            lines.append(Say(keys.RECALL_STYLE, (("style", _spoken(prefs.style)),)))
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


def _spoken(value: str) -> str:
    """A stored value as the voice says it."""
    spoken = {"478": "four seven eight", "fewer-words": "fewer words", "chime": "chimes"}
    return (spoken | {"both": "voice and chimes"}).get(value, value)
