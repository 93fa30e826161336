"""Format: erase SD cards, only when what they hold is safely copied. A plan, then an execute.

The plan reads every card and lists what each holds; a card is left out (never erased, forced or
not) when it cannot be read, or its camera is offline, recording or busy. Footage without
[offload] min_copies verified copies on distinct volumes (the ledger's, each checked by content)
blocks the whole format unless the operator forces it, and forcing takes typing the number of
cameras. Execute reads every card again, at the moment of erasing, and refuses a card
that records now, cannot be read, holds a file the plan did not list, or whose verified copies are
gone. The same plan, wording and confirmation rule serve the CLI and the TUI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from rigtui.gopro.errors import CameraError
from rigtui.gopro.ledger import Ledger
from rigtui.gopro.media import CardContents, card_contents, deletions, listed_entries
from rigtui.gopro.rig import CameraLink, Outcome, Rig
from rigtui.gopro.shotlog import ShotLog
from rigtui.gopro.snapshot import CameraSnapshot
from rigtui.gopro.takes import camera_label
from rigtui.ops.copies import FileCopies, file_copies
from rigtui.ops.report import Line, Report
from rigtui.ops.takes import close_takes
from rigtui.text import shown

SHOWN_FILES = 5  # unverified files named per camera in the plan's text
DECLINED = "format: not confirmed; nothing erased"
ERASE_BASE_S, ERASE_PER_FILE_S = 60.0, 2.0  # how long one card's erase may take


@dataclass(frozen=True)
class CardPlan:
    camera: str
    entries: dict[str, str] = field(default_factory=dict)  # every listed "DIR/NAME" -> listed size
    contents: CardContents = field(default_factory=lambda: CardContents(0, 0))
    unverified: tuple[str, ...] = ()  # footage short of its verified copies (and names not to be trusted)
    short: tuple[FileCopies, ...] = ()  # of those, the files, with the copies they do have
    left_out: str | None = None  # why this card is not erased at all
    deletions: tuple[tuple[str, bool], ...] = ()  # each listed file ("DIR/NAME", is a photo group)
    all_named: bool = True  # every entry can be deleted by name (else only delete-all reaches them)


@dataclass(frozen=True)
class Confirmation:
    """What the operator must answer before anything is erased."""

    question: str
    typed: str | None = None  # the exact text to type (forced erase); None: a yes/no question


@dataclass(frozen=True)
class FormatPlan:
    cards: list[CardPlan]
    force: bool
    notes: list[Line] = field(default_factory=list)  # takes closed before the cards were read, and such
    min_copies: int = 1  # verified copies on distinct volumes each file needs ([offload] min_copies)

    @property
    def erasable(self) -> list[CardPlan]:
        return [c for c in self.cards if c.left_out is None]

    @property
    def unverified(self) -> list[CardPlan]:
        return [c for c in self.erasable if c.unverified]

    @property
    def allowed(self) -> bool:
        """Something may be erased: a card can be, and unverified footage is only lost when forced."""
        return bool(self.erasable) and (self.force or not self.unverified)

    def refusal(self) -> str | None:
        """Why nothing will be erased, in one line (None when the plan may go ahead)."""
        if not self.erasable:
            return "format: refused; no card can be erased"
        if self.unverified and not self.force:
            if self.min_copies > 1:
                return (
                    f"format: refused; every file needs {self.min_copies} verified copies on distinct volumes "
                    "([offload] min_copies): offload to another disk first (rigtui offload DEST), or force it"
                )
            return "format: refused; offload these files first (rigtui offload DEST), or force it"
        return None

    def lines(self) -> list[Line]:
        """What each card holds and what erasing it means; the same text in the CLI and the TUI."""
        lines = [*self.notes, *(Line(f"left out  {c.camera}: {c.left_out}", True) for c in self.cards if c.left_out)]
        for card in self.unverified:
            copied = {f.path for f in card.short if f.copies}
            lines += _named(f"not verified  {card.camera}", [p for p in card.unverified if p not in copied])
            lines += _named(
                f"too few copies  {card.camera}",
                [f"{f.path} ({f.volumes} of {self.min_copies}: {f.where()})" for f in card.short if f.copies],
            )
        lines += [Line(f"will erase  {c.camera}: {c.contents.describe()}") for c in self.erasable]
        return lines

    @property
    def total(self) -> CardContents:
        return CardContents(sum(c.contents.files for c in self.erasable), sum(c.contents.bytes for c in self.erasable))

    def confirmation(self) -> Confirmation | None:
        """None when nothing may be erased; else the question, typed when footage would be lost."""
        if not self.allowed:
            return None
        count = len(self.erasable)
        cameras = f"{count} camera{'s' if count != 1 else ''}"
        if self.unverified:
            lost = sum(len(c.unverified) for c in self.unverified)
            return Confirmation(
                f"{lost} file(s) on {len(self.unverified)} camera(s) are NOT verified as offloaded"
                f"{self._copies(' in')} and will be lost. "
                f"This erases {self.total.describe()} on {cameras}. Type the number of cameras to erase ({count})",
                str(count),
            )
        return Confirmation(
            f"Erase the SD cards of {cameras} ({self.total.describe()}; every file is verified as offloaded"
            f"{self._copies()})?"
        )

    def _copies(self, how: str = "") -> str:
        """What "verified" requires, when more than one copy."""
        if self.min_copies == 1:
            return ""
        return f"{how} {self.min_copies} copies on distinct volumes"


def _named(head: str, files: list[str]) -> list[Line]:
    """One line naming a card's files (the first few): none when there are none."""
    if not files:
        return []
    count = len(files)
    more = f" and {count - SHOWN_FILES} more" if count > SHOWN_FILES else ""
    return [Line(f"{head}: {count} file{'s' if count != 1 else ''}: " + ", ".join(files[:SHOWN_FILES]) + more, True)]


def _held_back(snap: CameraSnapshot) -> str | None:
    """Why a camera's card must not be erased now, whatever the ledger says."""
    if not snap.online:
        return f"offline ({snap.last_error})"
    if snap.recording:
        return "recording"
    if snap.busy:
        return "busy"
    return None


async def _read_card(link: CameraLink, ledger: Ledger, min_copies: int) -> CardPlan:
    """What a card holds and which of its footage has fewer than `min_copies` verified copies on
    distinct volumes (checked by content: may hash copies on disk); raises CameraError if unreadable."""
    listing = await link.client.media_list()
    files, rejected = await asyncio.to_thread(file_copies, ledger, camera_label(link.key), listing)
    short = [f for f in files if f.volumes < min_copies]
    by_name, all_named = deletions(listing)
    return CardPlan(
        link.key,
        listed_entries(listing),
        card_contents(listing),
        tuple(rejected + [f.path for f in short]),
        tuple(short),
        deletions=tuple(by_name),
        all_named=all_named,
    )


async def plan_format(
    rig: Rig, ledger: Ledger, selection: Iterable[str] | None = None, *, force: bool = False, log: ShotLog | None = None
) -> FormatPlan:
    await rig.poll_once()  # fresh state: a camera that started recording must show it
    # an open take must learn its files before the cards are erased, or later files would land in it
    notes = await close_takes(rig, log, repaired=True) if log is not None else []
    links = rig.cameras(selection)
    cards: dict[str, CardPlan] = {}

    async def read(link: CameraLink) -> str:
        cards[link.key] = await _read_card(link, ledger, ledger.min_copies)
        return ""

    readable = [link for link in links if _held_back(link.snapshot()) is None]
    for outcome in await rig.each(readable, read, timeout=60):
        if not outcome.ok:
            cards[outcome.key] = CardPlan(outcome.key, left_out=f"card could not be read: {outcome.detail}")
    for link in links:
        why = _held_back(link.snapshot())
        if why is not None:
            cards[link.key] = CardPlan(link.key, left_out=why)
    return FormatPlan([cards[link.key] for link in links], force, notes, ledger.min_copies)


async def execute_format(rig: Rig, ledger: Ledger, plan: FormatPlan) -> Report:
    """Erase the plan's cards, each only if everything the plan relied on still holds now."""
    outcomes = [Outcome(c.camera, False, f"not erased: {c.left_out}") for c in plan.cards if c.left_out]
    if not plan.allowed:
        return Report("format", outcomes, [plan.refusal() or "format: refused"])
    planned = {c.camera: c for c in plan.erasable}
    links = [link for link in rig.cameras() if link.key in planned]

    async def erase(link: CameraLink) -> str:
        card = planned[link.key]
        await link.read_state()
        why = _held_back(link.snapshot())
        if why is not None:
            raise CameraError(f"not erased: {why} now")
        now = await _read_card(link, ledger, plan.min_copies)
        added = sorted(set(now.entries.items()) - set(card.entries.items()))
        if added:
            example = shown(added[0][0], 60)
            raise CameraError(f"not erased: the card holds {len(added)} file(s) the plan did not list, e.g. {example}")
        lost = sorted(set(now.unverified) - set(card.unverified))
        if lost:
            raise CameraError(f"not erased: {len(lost)} file(s) are no longer verified, e.g. {shown(lost[0], 60)}")
        await _erase(link, card)
        left = listed_entries(await link.client.media_list())
        remaining = set(left) & set(card.entries)
        if remaining:
            raise CameraError(f"{len(remaining)} planned file(s) still on the card after erasing")
        if left:
            return f"card erased; {len(left)} file(s) recorded since were kept"
        return "card erased"

    most = max((len(c.deletions) for c in planned.values()), default=0)
    outcomes += await rig.each(links, erase, timeout=ERASE_BASE_S + ERASE_PER_FILE_S * most)
    gone = set(planned) - {link.key for link in links}
    outcomes += [Outcome(key, False, "not erased: the camera left the rig") for key in sorted(gone)]
    return Report("format", outcomes)


async def _erase(link: CameraLink, card: CardPlan) -> None:
    """Delete the planned files one by one (a new file recorded meanwhile is never touched). Only a
    card holding an entry with no usable name is erased whole, and only because the re-read just
    showed exactly the planned entries."""
    if not card.all_named:
        await link.client.delete_all()
    else:
        for path, group in card.deletions:
            await (link.client.delete_group(path) if group else link.client.delete_file(path))
    await link.client.wait_idle(limit_s=30)
