"""The PIN prompt: masks only, tries left, the applicant's wording large.

The screen never sees a PIN character. Keys go to the pad backend (the
keyboard pad is fed from a worker thread, so the VERIFY that follows Enter runs
off the event loop); :class:`~device.pin_entry.PinEntry` keeps the characters in
a wiped ``bytearray`` and tells this screen only lengths and states. On Enter it
hands the PIN, once, to :meth:`CounterServices.verify_pin`, which wipes it.
No key does anything else while the prompt is up: there is no keypad test, no
navigation, no echo.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Callable
from typing import Protocol

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from device.pin_entry import PinEntry, PinEntryEvent, PinEventKind, PinHandle, PinSpec
from madoguchi.errors import MadoguchiError
from tui.messages import PinProgress, PinVerified
from tui.screens.base import CounterScreen
from tui.services import KeyboardFed, PinPad, PinVerifyResult
from tui.text import ja_block
from tui.widgets.bars import KeyHelp, TitleBar

#: Seconds between timeout checks of the entry (and countdown updates).
TIMEOUT_CHECK_S = 0.25
#: The countdown is shown reversed from this many seconds left.
COUNTDOWN_WARN_S = 10
#: Mask glyphs: typed, not yet typed.
MASK_FILLED, MASK_EMPTY = "●", "○"
#: Longest PIN drawn as big boxes (6 cells each); longer ones get one line of glyphs.
BOXED_MAX = 8
#: Seconds a told result (accepted, refused, remove the card) stays on the prompt
#: before it closes, so that the applicant reads what the pad's lamps say.
RESULT_HOLD_S = 1.0
#: Entry events the applicant hears as a key click.
KEY_EVENTS = (PinEventKind.LENGTH_CHANGED, PinEventKind.TAP, PinEventKind.REJECTED)


def applicant_state(result: PinVerifyResult) -> str | None:
    """The applicant state (docs/pinpad.md) a PIN prompt's ``result`` is told as.

    ``None``: nothing to tell (cancelled, timed out, card taken, an error): the
    pad's lamps go dark and the clerk's screen says what happened.
    """
    if result.outcome in ("verified", "changed", "written"):
        return "accepted"
    if result.outcome == "wrong":
        return "refused"
    if result.outcome == "blocked":
        return "remove_card"  # this counter cannot unblock it: the card goes back
    return None


def mask_rows(length: int, max_length: int) -> list[str]:
    """The mask as the applicant sees it: one box per character, filled as typed.

    Three rows of boxes, big enough to read from the other side of the counter,
    for PINs of up to :data:`BOXED_MAX` characters; a single row of glyphs for the
    16-character signature password. Never anything but the count.
    """
    glyphs = [MASK_FILLED] * length + [MASK_EMPTY] * max(0, max_length - length)
    if max_length > BOXED_MAX:
        return [" ".join(glyphs)]
    return [
        " ".join("┏━━━┓" for _ in glyphs),
        " ".join(f"┃ {glyph} ┃" for glyph in glyphs),
        " ".join("┗━━━┛" for _ in glyphs),
    ]

_ENDINGS = {
    PinEventKind.CANCELLED: "cancelled",
    PinEventKind.TIMED_OUT: "timed_out",
    PinEventKind.CARD_REMOVED: "card_removed",
}
#: PIN entry reports a consumer (VERIFY) that raised as its own event kind in newer
#: versions of ``device.pin_entry``; looked up by name so both versions work.
_CONSUMER_FAILED = getattr(PinEventKind, "FAILED", None)


class PromptEntry(Protocol):
    """What the prompt drives: a :class:`PinEntry`, or a new PIN typed twice."""

    def start(self) -> None: ...

    def cancel(self) -> None: ...

    def card_removed(self) -> None: ...

    def check_timeouts(self) -> None: ...

    def time_left(self) -> float | None: ...


class PinPromptScreen(CounterScreen[PinVerifyResult]):
    """Collects one PIN on the pad and verifies it; dismisses with a PinVerifyResult.

    Args:
        pad: the applicant's PIN pad.
        pin: the card's PIN kind code (``"juki"``...).
        spec: the PIN's rules (length, alphabet).
        tries_left: tries left as read just before this prompt.
        confirm_last_try: the clerk explicitly confirmed spending the last try.
        timeouts: ``(overall, between keys)`` in seconds (``[keypad]``); the prompt
            counts down to the nearer one. Running out sends nothing to the card.
        clock: the monotonic clock the limits are measured on.
    """

    def __init__(
        self,
        *,
        pad: PinPad,
        pin: str,
        spec: PinSpec,
        tries_left: int | None,
        confirm_last_try: bool,
        timeouts: tuple[float, float] = (60.0, 60.0),
        clock: Callable[[], float] = time.monotonic,
        screen_id: str = "pin-prompt",
    ) -> None:
        super().__init__(id=screen_id)
        self.pin = pin
        self.spec = spec
        self.tries_left = tries_left
        self.confirm_last_try = confirm_last_try
        self.length = 0
        """Characters typed so far (all the screen knows)."""
        self.finished = False
        self._keys: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._pad = pad
        self.entry: PromptEntry = self.make_entry(pad, clock, timeouts)
        self._countdown = -1

    def make_entry(
        self, pad: PinPad, clock: Callable[[], float], timeouts: tuple[float, float]
    ) -> PromptEntry:
        """The entry this prompt runs (a subclass may run another kind)."""
        return PinEntry(
            self.spec,
            on_event=self._on_entry_event,
            on_complete=self._on_complete,
            pad=pad,
            clock=clock,
            overall_timeout=timeouts[0],
            inter_key_timeout=timeouts[1],
        )

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t(self.TITLE_KEY), self.title_right())
        with Vertical(id="pin-box", classes="panel"):
            # As Japanese is set: 「、#を押してください」 never parted at the line's end.
            yield Static(ja_block(self.applicant_text(), justify="center"), id="pin-applicant")
            yield Static(id="pin-mask")
            yield Static(id="pin-tries")
            yield Static(id="pin-countdown")
            yield Static(id="pin-message", markup=False)
            yield Static(id="pin-status", markup=False)
            if self._pad.simulated:
                yield Static(self._pad.label, id="pin-pad-label", markup=False)
        keyboard = isinstance(self._pad, KeyboardFed)
        yield KeyHelp(t("keys.pin_keyboard" if keyboard else "keys.pin_pad"))

    #: Catalogue key of the title.
    TITLE_KEY = "pin.title"

    def applicant_text(self) -> str:
        """What the applicant is asked to type (large, at the top)."""
        return self.t(f"pin.prompts.{self.pin}", n=self.spec.max_length)

    def on_mount(self) -> None:
        self.populate()
        self.entry.start()  # subscribes to the pad and opens its gate
        if self.tries_left == 1:
            self.tell("last_try")  # reached only once the clerk confirmed it
        self._show_countdown()
        self.set_interval(TIMEOUT_CHECK_S, self._tick)
        if isinstance(self._pad, KeyboardFed):
            self._feed_keys()

    def populate(self) -> None:
        self._show_mask()
        self._countdown = -1
        self._show_countdown()
        tries = self.query_one("#pin-tries", Static)
        if self.tries_left is not None:
            text = self.t("pin.tries_left", tries=self.tries_left)
            if self.confirm_last_try:
                text += "  " + self.t("pin.last_try_confirmed")
            tries.update(Text(text, style="bold"))

    def _tick(self) -> None:
        self.entry.check_timeouts()
        self._show_countdown()

    def _show_countdown(self) -> None:
        """The seconds left before the entry times out (a timeout spends no try)."""
        left = self.entry.time_left()
        seconds = -1 if left is None else math.ceil(left)
        if seconds == self._countdown or seconds < 0:
            return
        self._countdown = seconds
        style = "bold reverse" if seconds <= COUNTDOWN_WARN_S else "bold"
        self.query_one("#pin-countdown", Static).update(
            Text(self.t("pin.countdown", seconds=seconds), style=style)
        )

    def _show_mask(self) -> None:
        rows = mask_rows(self.length, self.spec.max_length)
        self.query_one("#pin-mask", Static).update(Text("\n".join(rows), style="bold"))

    # -- keys -----------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        # Every key stops here: nothing else may act during a PIN prompt.
        event.stop()
        event.prevent_default()
        if self.finished:
            return
        if isinstance(self._pad, KeyboardFed):
            self._keys.put(event.key)
        elif event.key == "escape":
            self.entry.cancel()  # the clerk may always abandon the prompt

    @work(thread=True, exclusive=True, group="pin-keys", exit_on_error=False)
    def _feed_keys(self) -> None:
        """The keyboard pad's thread: keys in, PIN entry events out, VERIFY on Enter."""
        pad = self._pad
        assert isinstance(pad, KeyboardFed)
        while True:
            key = self._keys.get()
            if key is None:
                return
            pad.feed(key)

    # -- PIN entry callbacks (on the feeding thread) ------------------------------------------

    def _on_entry_event(self, event: PinEntryEvent) -> None:
        self.post_message(PinProgress(event))

    def _on_complete(self, handle: PinHandle) -> None:
        services = self.counter.services
        try:
            with handle.open() as secret:
                result = services.verify_pin(
                    self.pin, secret, confirm_last_try=self.confirm_last_try
                )
        except MadoguchiError as exc:
            result = PinVerifyResult(self.pin, "error", detail=type(exc).__name__)
        self.post_message(PinVerified(result))

    # -- messages on the event loop -------------------------------------------------------

    def on_pin_progress(self, message: PinProgress) -> None:
        event = message.event
        self.length = event.length
        self._show_mask()
        text = ""
        if event.kind in KEY_EVENTS:
            self.tell("key")
        if event.kind is PinEventKind.REJECTED and event.problem is not None:
            text = self.t(f"pin.problems.{event.problem.value}")
        elif event.kind is PinEventKind.COMPLETED:
            text = self.t("pin.verifying")
            self.tell("wait")
        elif event.kind in _ENDINGS:
            self._finish(PinVerifyResult(self.pin, _ENDINGS[event.kind]))
            return
        elif _CONSUMER_FAILED is not None and event.kind is _CONSUMER_FAILED:
            failure = getattr(event, "failure", None)
            detail = failure.error_type.__name__ if failure is not None else "?"
            self._finish(PinVerifyResult(self.pin, "error", detail=detail))
            return
        self.query_one("#pin-message", Static).update(text)

    def on_pin_verified(self, message: PinVerified) -> None:
        self._finish(message.result)

    def tell(self, state: str | None, *, remaining: int | None = None) -> None:
        """Tell the applicant ``state``: the pad's LEDs and buzzer, and the status line.

        Only the state's name leaves this screen, never a character of the PIN. A key
        click has no line (the mask shows it); ``None`` darkens the lamps.
        """
        self.counter.services.tell_applicant(state)
        if state is None or state == "key":
            return
        line = self.t(
            f"pin.applicant.{state}", remaining="?" if remaining is None else remaining
        )
        self.query_one("#pin-status", Static).update(Text(line, style="bold reverse"))

    def _finish(self, result: PinVerifyResult) -> None:
        if self.finished:
            return
        self.finished = True
        self._keys.put(None)
        state = applicant_state(result)
        if state is not None:
            self.query_one("#pin-message", Static).update("")  # "verifying…" is over
        self.tell(state, remaining=result.remaining)
        if result.remaining is not None and result.remaining != self.tries_left:
            # The card's answer, not the count read before: 「残り 3 回」 stayed on screen
            # through the hold after a refused PIN.
            self.tries_left = result.remaining
            self.query_one("#pin-tries", Static).update(
                Text(self.t("pin.tries_left", tries=result.remaining), style="bold"))
        if state is None:
            self.dismiss(result)
        else:
            # The prompt takes no key from here; it closes once the result was seen.
            self.set_timer(RESULT_HOLD_S, lambda: self._close(result))

    def _close(self, result: PinVerifyResult) -> None:
        # Not awaited: the timer runs on this screen's own message pump.
        self.dismiss(result)

    def card_removed(self) -> bool:
        """The card left the reader: abandon the entry (its buffer is wiped).

        The prompt leaves once the entry reports it (a ``card_removed`` result, which
        the checklist shows); a VERIFY already sent ends in the card layer's error.
        """
        self.entry.card_removed()
        return False

    def on_unmount(self) -> None:
        # A no-op once finished; otherwise it wipes the buffer, closes the pad's
        # gate and unsubscribes.
        self.entry.cancel()
        self._keys.put(None)
