"""The `aftercare` command: a thin layer that builds the config and calls the library."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from skill.app import Runtime, project_dir
from skill.assets import load_synthesizer, speaking_config
from skill.base.errors import AftercareError, VoiceError
from skill.base.text import valid_site_id
from skill.config.loader import load_config
from skill.config.settings import Config

log = logging.getLogger("aftercare")

DEFAULT_CONFIG = "config.yaml"


def _config_path(value: str | None) -> Path:
    if value:
        return Path(value)
    local = Path(DEFAULT_CONFIG)
    return local if local.is_file() else project_dir() / DEFAULT_CONFIG


def _load(args: argparse.Namespace) -> Config:
    path = _config_path(args.config)
    if not path.is_file() and args.config is None:
        from skill.config.loader import parse_config

        return parse_config({}, path="<defaults>")
    return load_config(path)


def _time_scale(value: str) -> float:
    """--time-scale: a number above 0 and at most 1."""
    try:
        scale = float(value)
    except ValueError:
        scale = 0.0
    if not 0 < scale <= 1:
        raise argparse.ArgumentTypeError(f"expected a number above 0 and at most 1, got {value!r}")
    return scale


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _recognizer(config: Config) -> Any:
    from skill.app import project_dir
    from skill.assets import load_recognizer

    return load_recognizer(config, project_dir())


def cmd_run(args: argparse.Namespace) -> int:
    """The service, until SIGTERM or SIGINT."""
    config = _load(args)
    _setup_logging(config.log_level)

    async def main() -> AftercareError | None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with Runtime(config, time_scale=args.time_scale) as runtime:
            log.info("Serving on %s:%s; stop with Ctrl-C", runtime.host, runtime.port)
            ended = [asyncio.ensure_future(e.wait()) for e in (stop, runtime.failed)]
            _, waiting = await asyncio.wait(ended, return_when=asyncio.FIRST_COMPLETED)
            for task in waiting:
                task.cancel()
            log.info("Shutting down")
            return runtime.error

    error = asyncio.run(main())
    if error is not None:
        raise error  # main() prints it as "aftercare run: ..." and exits 2
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The newcomer path: embedded broker, skill and a local bedside speaker."""
    from skill.demo.demo import run_demo

    config = _load(args)
    _setup_logging("WARNING")
    return run_demo(
        config,
        says=args.say or [],
        time_scale=args.time_scale,
        output=args.output,
        folder=Path(args.folder),
        gap=args.gap,
    )


def cmd_recognize(args: argparse.Namespace) -> int:
    """Print the NluIntent JSON that `say` would publish."""
    config = _load(args)
    intent = _recognizer(config).recognize(args.text, site_id=args.site)
    if intent is None:
        print("Not recognized: no Aftercare intent matches that sentence.", file=sys.stderr)
        return 1
    print(intent.payload())
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    """Recognize TEXT and publish the NluIntent as Rhasspy would."""
    from skill.hermes.client import new_client
    from skill.hermes.messages import intent_topic

    config = _load(args)
    if not valid_site_id(args.site):
        print("--site: 1-64 characters without / + # or spaces", file=sys.stderr)
        return 2
    intent = _recognizer(config).recognize(args.text, site_id=args.site)
    if intent is None:
        print("Not recognized: no Aftercare intent matches that sentence.", file=sys.stderr)
        return 1
    if config.mqtt.embedded:
        print("mqtt.host is `embedded`: pass --config with your broker's host", file=sys.stderr)
        return 2
    client = new_client("aftercare-say", settings=config.mqtt)
    try:
        client.connect(config.mqtt.host, config.mqtt.port)
    except OSError as err:
        where = f"{config.mqtt.host}:{config.mqtt.port}"
        print(f"Cannot reach the MQTT broker at {where}: {err}", file=sys.stderr)
        return 2
    client.loop_start()
    info = client.publish(intent_topic(intent.intent.intent_name), intent.payload(), qos=1)
    with contextlib.suppress(RuntimeError, ValueError):
        info.wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    if not info.is_published():
        print(
            "The broker did not take the message (refused login or no answer within 5 s); "
            "check mqtt.username and the password settings",
            file=sys.stderr,
        )
        return 2
    print(f"Published {intent.intent.intent_name} for site {args.site}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate config, voice, intents and responses; print the resolved settings."""
    from skill.assets import load_assets, prompt_values
    from skill.voice.clips import ClipCache

    config = _load(args)
    assets = load_assets(config, project_dir())
    recognizer = _recognizer(config)
    synth = load_synthesizer(config)
    if synth is not None:
        clips = ClipCache(synth, None)
        try:
            # Every line, as the running skill renders them after `online`; here a cue
            # too long for its phase is an error, not a chime in its place.
            assets.prerender(
                clips,
                config.voice.max_sentence_chars,
                prompt_values(config),
            )
        except VoiceError:
            if config.voice.fallback != "hermes":
                raise
            synth = None
        finally:
            clips.close()
    if synth is None and config.voice.engine == "piper":
        print("WARNING: the Piper voice did not load; the skill will speak through hermes/tts/say")
        config = speaking_config(config, synth)
    print(json.dumps(_masked(config), indent=2, default=str))
    if not _languages_complete(assets.routines):
        return 2
    print(
        f"OK: {len(recognizer.intent_names)} intents, {len(assets.responses.keys())} response "
        f"keys, {len(assets.patterns)} breathing patterns, {len(assets.routines)} routines, "
        f"voice: {config.voice.engine} ({config.voice.model})"
    )
    return 0


def _languages_complete(routines: Mapping[str, Any]) -> bool:
    """Report, per language shipped, missing response keys and missing intents; True if none."""
    from skill.language import keys
    from skill.language.responses import ResponseBook

    root = project_dir()
    needed = set(keys.ALL_KEYS)
    for routine in routines.values():
        needed |= routine.response_keys()
    complete = True
    for path in sorted((root / "responses").glob("*.yaml")):
        language = path.stem
        missing = ResponseBook.load(path).missing(sorted(needed))
        if missing:
            complete = False
            print(f"{path}: missing {len(missing)} response keys: {', '.join(missing)}")
        if not (root / "intents" / language).is_dir():
            complete = False
            print(f"{root / 'intents' / language}: no sentence templates for {language!r}")
    return complete


def _masked(config: Config) -> dict[str, Any]:
    data: dict[str, Any] = asdict(config) if is_dataclass(config) else {}
    mqtt = data.get("mqtt", {})
    mask = "*" * 8
    if mqtt.get("password_env"):
        mqtt["password"] = mask if config.mqtt.password() else "(variable not set)"
    if mqtt.get("password_file"):
        mqtt["password"] = mask
    return data


def cmd_forget(args: argparse.Namespace) -> int:
    """Erase everything stored: preferences, follow-ups and the audio cache."""
    import shutil

    from skill.app import store_path
    from skill.care.private_file import erase

    config = _load(args)
    removed = erase(store_path(config))
    cache = config.data_dir / "cache"
    if cache.is_dir():
        shutil.rmtree(cache)
        removed = True
    print("Erased everything Aftercare stored." if removed else "Nothing was stored.")
    return 0


def cmd_sentences(args: argparse.Namespace) -> int:
    """Print the sentence templates for Rhasspy (sentences.ini) or Home Assistant."""
    from skill.language import sentences

    config = _load(args)
    recognizer = _recognizer(config)
    if args.format == "rhasspy":
        print(sentences.to_rhasspy(recognizer), end="")
    elif args.format == "hassil":
        print(sentences.to_hassil(recognizer), end="")
    else:
        print(sentences.to_intent_script(recognizer, site_id=args.site), end="")
    return 0


def cmd_homeassistant(args: argparse.Namespace) -> int:
    """Print the Home Assistant package that plays and hears a site through HA."""
    from skill.room.ha_package import package

    config = _load(args)
    entity = args.entity or config.homeassistant.speakers.get(args.site)
    try:
        text = package(
            _recognizer(config),
            site_id=args.site,
            entity_id=entity,
            topic_prefix=config.mqtt.topic_prefix,
        )
    except ValueError as err:
        print(f"aftercare homeassistant: {err}", file=sys.stderr)
        return 2
    if args.site not in config.homeassistant.speakers:
        print(
            f"Note: site {args.site!r} is not in homeassistant.speakers in {config.path}; "
            "add it there, or the skill keeps speaking Hermes on it",
            file=sys.stderr,
        )
    print(text, end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests)."""
    parser = argparse.ArgumentParser(prog="aftercare", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--config", help="path to config.yaml (default: ./config.yaml)")
        return p

    run = command("run", "run the skill until SIGTERM/SIGINT")
    run.set_defaults(func=cmd_run)
    run.add_argument(
        "--time-scale",
        type=_time_scale,
        default=1.0,
        help="real seconds per planned second (default 1); below 1 only to try or test "
        "routines quickly: silences, breathing and the wait for answers all shrink",
    )
    demo = command("demo", "try it: embedded broker, the skill and a local bedside speaker")
    demo.add_argument("--say", action="append", help="say this instead of typing (repeatable)")
    demo.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="real seconds per planned second, e.g. 0.05 to hear a breathing session in seconds",
    )
    demo.add_argument(
        "--gap",
        type=float,
        default=None,
        help="planned seconds between --say lines (default: wait until the activity ends)",
    )
    demo.add_argument("--output", choices=("auto", "soundcard", "folder"), default="auto")
    demo.add_argument("--folder", default="demo-audio", help="where clips go without a sound card")
    demo.set_defaults(func=cmd_demo)
    say = command("say", "recognize TEXT and publish the intent as Rhasspy would")
    say.add_argument("text")
    say.add_argument("--site", default="default")
    say.set_defaults(func=cmd_say)
    recognize = command("recognize", "print the NluIntent JSON for TEXT (no broker needed)")
    recognize.add_argument("text")
    recognize.add_argument("--site", default="default")
    recognize.set_defaults(func=cmd_recognize)
    command("check", "validate config, voice, intents and responses").set_defaults(func=cmd_check)
    command("forget", "erase everything stored: preferences, follow-ups, audio cache").set_defaults(
        func=cmd_forget
    )
    sentences = command("sentences", "print sentence templates for Rhasspy or Home Assistant")
    sentences.add_argument(
        "--format", choices=("rhasspy", "hassil", "intent_script"), default="rhasspy"
    )
    sentences.add_argument("--site", default="default", help="site id for --format intent_script")
    sentences.set_defaults(func=cmd_sentences)
    ha = command("homeassistant", "print the Home Assistant package for a site that speaks there")
    ha.add_argument("--site", required=True, help="the site id (as in homeassistant.speakers)")
    ha.add_argument(
        "--entity",
        help="assist_satellite.* or media_player.* to play on (default: the site's speaker)",
    )
    ha.set_defaults(func=cmd_homeassistant)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `aftercare` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AftercareError as err:
        print(f"aftercare {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
