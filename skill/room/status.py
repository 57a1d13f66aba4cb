"""What each site is doing, published for dashboards and Home Assistant."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

from skill.base.vocabulary import Activity
from skill.config.settings import Config
from skill.hermes.messages import Outgoing
from skill.room.homeassistant import (
    IDLE,
    SiteState,
    birth_topic,
    command_subscription,
    discovery_messages,
    removal_messages,
    state_message,
)

log = logging.getLogger(__name__)


def skill_version() -> str:
    """The installed version of the skill."""
    try:
        return version("aftercare")
    except PackageNotFoundError:
        return "0"


class StatusBoard:
    """Keeps each site's state and publishes it (retained) whenever it changes."""

    def __init__(self, config: Config, publish: Callable[[Outgoing], None]) -> None:
        self._config = config
        self._publish = publish
        self._states: dict[str, SiteState] = {}
        self._prefix = config.mqtt.topic_prefix
        self._cleared = False

    @property
    def status_topic(self) -> str:
        """<prefix>/status: retained online/offline."""
        return f"{self._prefix}/status"

    def subscriptions(self) -> list[str]:
        """The button topics, and Home Assistant's own status when discovery is on."""
        topics = [command_subscription(self._prefix)]
        if self._config.homeassistant.discovery:
            topics.append(birth_topic(self._config.homeassistant))
        return topics

    def is_birth(self, topic: str) -> bool:
        """True for Home Assistant's status topic."""
        return self._config.homeassistant.discovery and topic == birth_topic(
            self._config.homeassistant
        )

    def state(self, site_id: str) -> SiteState:
        """The last published state of a site."""
        return self._states.get(site_id, IDLE)

    def set(
        self,
        site_id: str,
        activity: Activity,
        *,
        detail: str | None = None,
        phase: str | None = None,
        paused: bool = False,
    ) -> None:
        """Record and publish a site's state (nothing is sent when it did not change)."""
        state = SiteState(activity, detail, phase, paused)
        if self._states.get(site_id) == state:
            return
        self._states[site_id] = state
        self._publish(state_message(self._prefix, site_id, state))

    def phase(self, site_id: str, phase: str | None, *, paused: bool = False) -> None:
        """A new breathing phase (or pause) within the current activity."""
        current = self.state(site_id)
        self.set(site_id, current.activity, detail=current.detail, phase=phase, paused=paused)

    def announce(self) -> None:
        """Discovery for every site in `sites`, then every known state (on connect, HA start)."""
        settings = self._config.homeassistant
        sites = self._config.sites
        if settings.discovery and sites:
            for message in discovery_messages(
                settings,
                topic_prefix=self._prefix,
                status_topic=self.status_topic,
                sites=sites,
                version=skill_version(),
            ):
                self._publish(message)
        elif settings.discovery:
            log.info("Home Assistant discovery needs `sites` in config.yaml; none announced")
        elif sites and not self._cleared:
            # Discovery was turned off: clear what an earlier run announced (empty retained
            # configs), once; Home Assistant then removes those entities.
            for message in removal_messages(settings, sites=sites):
                self._publish(message)
            self._cleared = True
        for site_id in sorted({*sites, *self._states}):
            self._publish(state_message(self._prefix, site_id, self.state(site_id)))
