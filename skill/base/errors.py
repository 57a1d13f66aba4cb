"""One error root for the skill; every error carries a stable code."""

from __future__ import annotations


class AftercareError(Exception):
    """Root of every error the skill raises on purpose."""

    code: str = "error"
    """Short machine-readable code, stable across releases."""


class LocatedError(AftercareError):
    """An error at a place in a file: the message names the file and the key."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        self.path = path
        """The file."""
        self.key = key
        """The dotted key (or line) in it; "" for the file as a whole."""
        self.problem = problem
        """What is wrong and what is allowed."""
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")


class DataFileError(LocatedError):
    """A file in intents/, responses/ or a pattern/routine file is malformed."""

    code = "data_file"


class ConfigError(LocatedError):
    """config.yaml is wrong; the message names the file, the key and what is allowed."""

    code = "config"


class VoiceError(AftercareError):
    """The Piper voice cannot be loaded or cannot synthesize."""

    code = "voice"


class BrokerError(AftercareError):
    """The MQTT broker cannot be reached, refused us, or could not be started."""

    code = "broker"


class MessageError(AftercareError):
    """An incoming MQTT message is malformed; it is logged once and dropped."""

    code = "bad_message"
