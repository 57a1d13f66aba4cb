"""What should happen on a site: the actions the handlers decide and the service carries out."""

from __future__ import annotations

from dataclasses import dataclass, field

from skill.base.vocabulary import CueStyle
from skill.care.plan import Plan
from skill.care.replies import CareReply
from skill.language.responses import Say


@dataclass(frozen=True)
class StartRoutine:
    """Replace the site's activity with an aftercare routine."""

    name: str
    """Routine name (short, long, quiet...)."""
    quiet: bool = False
    """Start without words (the site prefers quiet)."""
    playlist: str | None = None
    """Playlist for the routine's music (None: the config's)."""
    plan: Plan | None = None
    """The plan made together: the routine is assembled from it (see routines.from_plan)."""


@dataclass(frozen=True)
class StartBreathing:
    """Replace the site's activity with a guided breathing session."""

    pattern: str
    """Pattern name."""
    minutes: float | None
    """Length in minutes, or None when rounds are given."""
    rounds: int | None
    """Number of breaths, or None."""
    notices: tuple[Say, ...] = ()
    """Lines to say first (e.g. that a request was brought into range)."""
    style: CueStyle | None = None
    """Cue style asked for this session (voice, chime, both, fewer-words), or None."""


@dataclass(frozen=True)
class StartCooldown:
    """Start the cool-down music on the site's player."""

    playlist: str
    """Playlist to start."""


@dataclass(frozen=True)
class StopAll:
    """Stop everything on the site at once."""


@dataclass(frozen=True)
class Control:
    """Change a running breathing session."""

    action: str
    """slower, faster, pause, resume or more."""
    minutes: int = 1
    """Minutes to add (for `more`)."""
    notices: tuple[Say, ...] = field(default=())
    """Lines to say first."""


@dataclass(frozen=True)
class Skip:
    """Decline what is on offer: the routine's current step ends and the routine goes on."""

    said: str = "skip"
    """`skip` ("skip", "no thanks") or `not_now` ("not now", "maybe later")."""


@dataclass(frozen=True)
class MusicOff:
    """Only the music fades out (and a routine plays none later); everything else goes on."""


@dataclass(frozen=True)
class Caution:
    """A caution word: speech and cues pause at once, the music dips, one listening question."""


@dataclass(frozen=True)
class Care:
    """Answer a feeling or a need (outside a check-in)."""

    reply: CareReply
    """What to say and what changes."""


@dataclass(frozen=True)
class Prefer:
    """Remember a preference for this site."""

    changes: tuple[tuple[str, object], ...]
    """Field and value pairs for the store."""


@dataclass(frozen=True)
class Recall:
    """Say what is remembered about this site."""


@dataclass(frozen=True)
class Forget:
    """Erase what is remembered about this site."""


@dataclass(frozen=True)
class ScheduleFollowUp:
    """Schedule a gentle check-in later on this site."""

    when: str
    """`morning` or `tonight`."""
    announce: bool = True
    """Say that it is set (False: a plan's check-in, which the routine mentions itself)."""


@dataclass(frozen=True)
class StartPlanning:
    """Replace the site's activity with the planning conversation ("let's plan")."""


@dataclass(frozen=True)
class RecallPlan:
    """Read back the site's plan ("what's our plan")."""


@dataclass(frozen=True)
class CancelFollowUp:
    """Cancel the site's scheduled check-in."""


Action = (
    Say
    | StartRoutine
    | StartBreathing
    | StartCooldown
    | StopAll
    | Control
    | Skip
    | MusicOff
    | Caution
    | Care
    | Prefer
    | Recall
    | Forget
    | ScheduleFollowUp
    | CancelFollowUp
    | StartPlanning
    | RecallPlan
)

MemoryAction = Prefer | Recall | Forget | ScheduleFollowUp | CancelFollowUp
"""The actions the site's memory carries out."""
