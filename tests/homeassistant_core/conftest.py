# mypy: disable-error-code="import-untyped, import-not-found"
"""A real Home Assistant core with Aftercare's package loaded, and stand-ins for its speakers.

Runs inside .homeassistant-venv/ (scripts/homeassistant_env.py), started by
tests/test_homeassistant_core.py, which writes the package and the custom sentences and
names them in the environment. pytest-homeassistant-custom-component registers itself as a
plugin (its `pytest11` entry point): `hass` and `mqtt_mock` come from it.

The package is read by Home Assistant's own YAML loader and merged by its own package code
(`merge_packages_config`, as at startup); the automations and intent scripts then run in
the real script engine, with the real MQTT integration on a mocked client. What is not
real: the speakers (speakers.py says why and how they stand in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.config import merge_packages_config
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict

from homeassistant_core.speakers import (
    AUTOMATIONS,
    ENTITY,
    PACKAGE_ENV,
    SITE,
    SITE_ENV,
    Speakers,
    env,
    quiet,
)


@pytest.fixture
async def speakers(
    hass: HomeAssistant, mqtt_mock: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Speakers:
    """Home Assistant with MQTT, the merged package's automations and intent scripts."""
    env(SITE_ENV)
    hass.config.config_dir = str(tmp_path)
    # configuration.yaml's `homeassistant: packages: !include_dir_named packages`, read
    # and merged by Home Assistant's own code, as at startup.
    packages = {f"aftercare_{SITE}": load_yaml_dict(env(PACKAGE_ENV))}
    config: dict[str, Any] = {"homeassistant": {"packages": packages}}
    problems: list[str] = []

    def package_error(_: Any, package: str, component: str | None, __: Any, message: str) -> None:
        problems.append(f"package {package}, {component}: {message}")

    config = await merge_packages_config(hass, config, packages, package_error)
    assert not problems, problems
    assert {"automation", "intent_script"} <= set(config), sorted(config)
    found = Speakers(hass, mqtt_mock)
    found.register()
    hass.states.async_set(ENTITY, "idle")
    assert await async_setup_component(hass, "automation", config)
    assert await async_setup_component(hass, "intent_script", config)
    await hass.async_block_till_done()
    for name in AUTOMATIONS:
        state = hass.states.get(f"automation.aftercare_{SITE}_{name}")
        assert state is not None, f"automation {name} was not set up: {caplog.text}"
        assert state.state == "on", f"automation {name} is {state.state}: {caplog.text}"
    quiet(caplog)
    return found
