"""暗証番号の変更 by the holder: the clerk picks the PIN, the applicant types on the pad.

The applicant knows the current PIN and types it, then the new one twice
(:class:`~device.pin_entry.NewPinEntry`): the clerk's screen shows masks, the step
and the tries left, never a character. Only two matching entries reach the card,
through :meth:`CounterServices.change_pin` (the card-write seam, which reads the
tries left right before the VERIFY and sends one CHANGE REFERENCE DATA). A last
try needs the clerk's confirmation first (:class:`LastTryScreen`). Every ending is
recorded against the operator as ``pin_change`` with ``<pin>:<outcome>`` — Esc or
the pad's cancel as ``abandoned`` — and no record holds a PIN.

The PIN change is not one of the guidelines' procedures (it changes no
certificate); it is listed at the end of the procedure picker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from device.pin_entry import (
    PIN_SPECS,
    NewPin,
    NewPinEntry,
    NewPinEvent,
    NewPinEventKind,
    NewPinStep,
    PinEventKind,
)
from madoguchi.errors import MadoguchiError
from tui.messages import PinVerified
from tui.screens.base import CounterScreen
from tui.screens.last_try import LastTryScreen
from tui.screens.pin_prompt import KEY_EVENTS, PinPromptScreen, PromptEntry
from tui.services import PinPad, PinVerifyResult, PinView, Presence
from tui.text import ja_block
from tui.widgets.bars import KeyHelp, TitleBar

#: The option of the procedure picker that opens this flow (not an engine procedure id).
PIN_CHANGE_OPTION = "pin-change"
#: The four holder PINs, in the order the clerk sees them.
CHANGEABLE = ("jpki_sign", "jpki_auth", "support", "juki")

_ENDINGS = {
    NewPinEventKind.CANCELLED: "abandoned",
    NewPinEventKind.TIMED_OUT: "timed_out",
    NewPinEventKind.CARD_REMOVED: "card_removed",
}


class NewPinProgress(Message):
    """The new-PIN flow moved on: a step, a mask, advice, a mismatch (never a character)."""

    def __init__(self, event: NewPinEvent) -> None:
        super().__init__()
        self.event = event


class PinChangeStatusRead(Message):
    """The tries left of the PIN to change, read without spending one."""

    def __init__(self, pin: str, status: PinView | None, error: str = "") -> None:
        super().__init__()
        self.pin = pin
        self.status = status
        self.error = error


class PinChangePromptScreen(PinPromptScreen):
    """The pad's steps of a change: current PIN, new PIN, new PIN again."""

    TITLE_KEY = "pin_change.title"
    #: Catalogue tables of the wording (a reset, ``tui.screens.pin_reset``, has its own).
    STEPS_KEY, WORKING_KEY = "pin_change.steps", "pin_change.changing"
    ADVICE_KEY, MISMATCH_KEY = "pin_change.advice", "pin_change.mismatch"

    def __init__(
        self,
        *,
        pad: PinPad,
        pin: str,
        tries_left: int | None,
        confirm_last_try: bool,
        timeouts: tuple[float, float],
        clock: Callable[[], float],
        avoid: Sequence[bytes | bytearray] = (),
    ) -> None:
        self.step = NewPinStep.CURRENT
        self.avoid = avoid
        """The card's birth-date forms for the advice (issue 17): the transaction's buffers."""
        self._sticky = False  # a mismatch note outlives the step change that follows it
        super().__init__(
            pad=pad, pin=pin, spec=PIN_SPECS[_SPEC_NAMES[pin]], tries_left=tries_left,
            confirm_last_try=confirm_last_try, timeouts=timeouts, clock=clock,
            screen_id="pin-change",
        )

    def make_entry(
        self, pad: PinPad, clock: Callable[[], float], timeouts: tuple[float, float]
    ) -> PromptEntry:
        return NewPinEntry(
            self.spec,
            on_event=self._on_new_event,
            on_complete=self._on_new_pin,
            ask_current=True,
            avoid=self.avoid,
            pad=pad,
            clock=clock,
            overall_timeout=timeouts[0],
            inter_key_timeout=timeouts[1],
        )

    def applicant_text(self) -> str:
        t = self.t
        name = t(f"pin.names.{self.pin}")
        form = t("pin_change.forms.password" if self.spec.multitap else "pin_change.forms.digits",
                 n=self.spec.max_length)
        return t(f"{self.STEPS_KEY}.{self.step.value}", pin=name, form=form)

    # -- on the feeding thread ----------------------------------------------------------

    def _on_new_event(self, event: NewPinEvent) -> None:
        self.post_message(NewPinProgress(event))

    def _on_new_pin(self, new_pin: NewPin) -> None:
        services = self.counter.services
        current = new_pin.current
        try:
            if current is None:  # ask_current=True always sends one
                raise MadoguchiError("no current PIN")
            with current.open() as old, new_pin.new.open() as new:
                result = services.change_pin(
                    self.pin, old, new, confirm_last_try=self.confirm_last_try
                )
        except MadoguchiError as exc:
            result = PinVerifyResult(self.pin, "error", detail=type(exc).__name__)
        self.post_message(PinVerified(result))

    # -- on the event loop -----------------------------------------------------------------

    def on_new_pin_progress(self, message: NewPinProgress) -> None:
        event = message.event
        note = self.query_one("#pin-message", Static)
        if event.kind is NewPinEventKind.ENTRY and event.entry is not None:
            self.length = event.entry.length
            self._show_mask()
            if event.entry.kind in KEY_EVENTS:
                self.tell("key")
            if event.entry.kind is PinEventKind.REJECTED and event.entry.problem is not None:
                note.update(self.t(f"pin.problems.{event.entry.problem.value}"))
            elif event.entry.kind is PinEventKind.COMPLETED and self.step is NewPinStep.CONFIRM:
                note.update(self.t(self.WORKING_KEY))
                self.tell("wait")
            elif event.entry.kind is PinEventKind.LENGTH_CHANGED and not self._sticky:
                note.update("")
            return
        if event.kind in (NewPinEventKind.STEP, NewPinEventKind.ADVICE):
            self.step = event.step
            self.length = 0
            self.query_one("#pin-applicant", Static).update(
                ja_block(self.applicant_text(), justify="center"))
            self._show_mask()
            if event.kind is NewPinEventKind.ADVICE:
                note.update(Text(self.t(self.ADVICE_KEY), style="bold yellow"))
            elif not self._sticky:
                note.update("")
            self._sticky = False
        elif event.kind is NewPinEventKind.MISMATCH:
            note.update(Text(self.t(self.MISMATCH_KEY), style="bold yellow"))
            # nothing is being sent after all: 「お待ちください」 must not stay
            self.query_one("#pin-status", Static).update("")
            self._sticky = True  # survives the STEP that follows
        elif event.kind in _ENDINGS:
            self._finish(PinVerifyResult(self.pin, _ENDINGS[event.kind]))
        elif event.kind is NewPinEventKind.FAILED:
            failure = event.failure
            detail = failure.error_type.__name__ if failure is not None else "?"
            self._finish(PinVerifyResult(self.pin, "error", detail=detail))


#: The tui's PIN codes -> the pad's spec names.
_SPEC_NAMES = {
    "juki": "juki_pin",
    "jpki_auth": "jpki_user_auth_pin",
    "jpki_sign": "jpki_signature_password",
    "support": "card_input_assist_pin",
}


class PinChangeScreen(CounterScreen[None]):
    """Which PIN the holder changes; then the tries are read and the pad takes over."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__(id="pin-change-choice")
        self.busy = False
        """True from a choice until its prompt (or refusal) is over."""

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("pin_change.title"), self.title_right())
        with Vertical(id="procedure-box", classes="panel"):
            yield Static(ja_block(t("pin_change.lead")))  # breaks as Japanese is set
            yield OptionList(
                *(Option(self._label(pin), id=pin) for pin in CHANGEABLE), id="pin-change-list"
            )
            yield Static("", id="pin-change-message")
        yield KeyHelp(t("keys.sub"))

    def on_mount(self) -> None:
        # The tries shown follow the card: a wrong current PIN spends one, and the
        # read after every ending (``refresh_card``) lands here.
        self.watch(self.counter, "card_status", self._relabel, init=False)

    def _relabel(self, _: object = None) -> None:
        choices = self.query_one("#pin-change-list", OptionList)
        for index, pin in enumerate(CHANGEABLE):
            choices.replace_option_prompt_at_index(index, self._label(pin))

    def _label(self, pin: str) -> str:
        t = self.t
        card = self.counter.card_status
        tries = {view.pin: view.remaining for view in card.pins} if card is not None else {}
        left = tries.get(pin)
        name = t(f"pin.names.{pin}")
        return name if left is None else f"{name}（{t('pin.tries_left', tries=left)}）"

    def _say(self, text: str) -> None:
        self.query_one("#pin-change-message", Static).update(ja_block(text, style="bold yellow"))

    @on(OptionList.OptionSelected, "#pin-change-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        pin = event.option.id or ""
        if self.busy or pin not in CHANGEABLE:
            return
        if self.counter.reader_state.presence is not Presence.PRESENT:
            self._say(self.t("pin_change.card_needed"))
            return
        self.busy = True
        self.counter.record_action("pin_change_chosen", pin)
        self._read_status(pin)

    @work(thread=True, exclusive=True, group="pin-change", exit_on_error=False)
    def _read_status(self, pin: str) -> None:
        try:
            status = self.counter.services.pin_status(pin)
        except MadoguchiError as exc:
            self.post_message(PinChangeStatusRead(pin, None, type(exc).__name__))
        else:
            self.post_message(PinChangeStatusRead(pin, status))

    def on_pin_change_status_read(self, message: PinChangeStatusRead) -> None:
        status, pin, t = message.status, message.pin, self.t
        if self.counter.reader_state.presence is not Presence.PRESENT:
            self._ended(PinVerifyResult(pin, "card_removed"))
            return
        if status is None:
            self._ended(PinVerifyResult(pin, "error", detail=message.error or "?"))
            return
        if status.state in ("available", "no_limit"):
            self._open(status, confirmed=False)
        elif status.state == "last_try":
            def answered(confirmed: bool | None) -> None:
                if confirmed is None:
                    self._ended(PinVerifyResult(pin, "card_removed"))
                elif confirmed:
                    self.counter.record_action("pin_last_try_confirmed", pin)
                    self._open(status, confirmed=True)
                else:
                    self.counter.record_action("pin_last_try_declined", pin)
                    self._ended(PinVerifyResult(pin, "abandoned"))

            self.app.push_screen(LastTryScreen(pin=pin), callback=answered)
        else:
            self.busy = False
            state = f"card.pin_states.{status.state}"
            self._say(t("pin_change.cannot", pin=t(f"pin.names.{pin}"),
                        state=t(state) if t.has(state) else status.state))
            self.counter.record_action("pin_change", f"{pin}:{status.state}")

    def _open(self, status: PinView, *, confirmed: bool) -> None:
        services = self.counter.services
        screen = PinChangePromptScreen(
            pad=services.pin_pad, pin=status.pin, tries_left=status.remaining,
            confirm_last_try=confirmed, timeouts=services.pin_timeouts,
            clock=services.clock.monotonic,
        )
        self.app.push_screen(screen, callback=self._ended)

    def _ended(self, result: PinVerifyResult | None) -> None:
        self.busy = False
        if result is None:
            return
        t = self.t
        # The outcome only: the PINs never came here and are already wiped.
        self.counter.record_action("pin_change", f"{result.pin}:{result.outcome}")
        remaining = "?" if result.remaining is None else str(result.remaining)
        text = t(f"pin_change.outcomes.{result.outcome}", pin=t(f"pin.names.{result.pin}"),
                 remaining=remaining, detail=result.detail)
        self.counter.refresh_card()
        if result.outcome == "changed":
            self.app.notify(text)
            self.dismiss(None)
        else:
            self._say(text)
            self.app.notify(text, severity="warning")

    def populate(self) -> None:
        self.query_one("#pin-change-list", OptionList).focus()
