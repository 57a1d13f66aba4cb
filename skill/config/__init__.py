"""config.yaml: the typed settings (settings.py, devices.py, homeassistant.py, payload.py)
and the reader that fills them (loader.py). Imports only `skill.base`.
"""
