"""PINs written without the current one: 暗証番号の初期化・再設定's card step, and the new
PINs of an issuance or renewal.

The procedure's rules are the engine's (``device.procedures.pin_reset``, outside the
guidelines); its last step, ``pin_reset.card_step``, is this screen, never a typed
answer. PIN by PIN, in the order the clerk ticked them:

* on a counter (``[reader] pin_writer = "jlis"``) the J-LIS terminal writes the new
  PIN: the appliance hands the step on (``PinWriter.initialise``, nothing sent) and the
  clerk confirms it was done, or that it could not be;
* on the virtual card the appliance writes it as the card's modelled test terminal:
  the applicant types the new PIN twice on the pad (:class:`PinResetPromptScreen`,
  masks only on the clerk's screen). By proxy, the clerk types it from the concealed
  reply form, after a screen that asks the proxy to step away.

Every PIN's ending is an operator event ``pin_reset <pin>:<outcome>``; the screen
dismisses with a :class:`CardStepResult` the checklist records (the engine then
decides: all written → continue; otherwise 受付不可 naming what was written), or
``None`` (Esc before anything was written: back to the step, where Esc is 中止).

An issuance or renewal that the engine continues sets the new certificates' PINs the
same way before its outcome is shown (:func:`new_pins_wanted`, the 利用者証明用 PIN and
the 署名用 password, by multi-tap, for the certificates applied for): events
``new_pins <pin>:<outcome>``, the result noted in the session as ``new_pins`` (which F3
never takes back), and the record says who set which and, by proxy, only that the
concealed form was used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from device.pin_entry import NewPin, NewPinEntry, NewPinStep
from device.procedures import Kind, Session
from device.procedures import certificates as planned
from madoguchi.errors import MadoguchiError
from tui.messages import PinVerified
from tui.screens.base import CounterScreen
from tui.screens.pin_change import PinChangePromptScreen
from tui.screens.pin_prompt import PromptEntry
from tui.services import PinPad, PinVerifyResult, Presence
from tui.text import ja_block
from tui.widgets.bars import KeyHelp, TitleBar

#: The checklist's option that opens this screen at the card step.
PIN_RESET_OPEN = "pin_reset:card"
#: This screen's choices (option ids).
DONE, NOT_DONE, PAD = "done", "not_done", "pad"
#: The engine's PIN order (``device.procedures.pin_reset.ORDER``), as the TUI's PIN codes.
ORDER = ("jpki_auth", "jpki_sign", "support", "juki")
#: Where a result is recorded, by purpose: the reset's card step, an issuance's new PINs.
PREFIXES = {"pin_reset": "pin_reset.card_step", "new_pins": "new_pins"}
#: The PIN of each certificate kind an issuance applies for.
CERTIFICATE_PINS = {"auth": "jpki_auth", "sign": "jpki_sign"}


@dataclass(frozen=True)
class CardStepResult:
    """How the card step ended: who wrote, which PINs, whether the concealed form was used."""

    by: str  # "written", "handed_to_jlis" or "not_done"
    written: tuple[str, ...]
    from_concealed_form: bool

    def facts(self, purpose: str = "pin_reset") -> dict[str, Any]:
        """The fact keys and values to record (no PIN, by construction)."""
        prefix = PREFIXES[purpose]
        return {
            f"{prefix}.by": self.by,
            f"{prefix}.written": list(self.written),
            f"{prefix}.from_concealed_form": self.from_concealed_form,
        }


def chosen_pins(session: Session) -> list[str]:
    """The PINs the clerk ticked for this reset, in the order they are written."""
    reset = session.facts.pin_reset
    ticked = {pin.value for pin in reset.pins} if reset and reset.pins else set()
    return [pin for pin in ORDER if pin in ticked]


class PinResetPromptScreen(PinChangePromptScreen):
    """The new PIN typed twice, then written on the virtual card as its test terminal.

    ``concealed``: the clerk types it from the proxy's concealed reply form (the
    wording says so); otherwise the applicant types it. Either way the screen shows
    masks and steps only, and the PIN lives in the pad entry's wiped buffers.
    """

    TITLE_KEY = "pin_reset.title"
    STEPS_KEY, WORKING_KEY = "pin_reset.steps", "pin_reset.writing"
    ADVICE_KEY, MISMATCH_KEY = "pin_reset.advice", "pin_reset.mismatch"

    def __init__(
        self,
        *,
        pad: PinPad,
        pin: str,
        timeouts: tuple[float, float],
        clock: Callable[[], float],
        concealed: bool,
        purpose: str = "pin_reset",
        avoid: Sequence[bytes | bytearray] = (),
    ) -> None:
        self.concealed = concealed
        self.TITLE_KEY = f"{purpose}.title"
        super().__init__(pad=pad, pin=pin, tries_left=None, confirm_last_try=False,
                         timeouts=timeouts, clock=clock, avoid=avoid)
        self.step = NewPinStep.NEW
        if concealed:
            self.STEPS_KEY = "pin_reset.steps_concealed"
            self.ADVICE_KEY = "pin_reset.advice_concealed"

    def make_entry(
        self, pad: PinPad, clock: Callable[[], float], timeouts: tuple[float, float]
    ) -> PromptEntry:
        return NewPinEntry(
            self.spec,
            on_event=self._on_new_event,
            on_complete=self._on_new_pin,
            ask_current=False,  # a reset: nobody knows the PIN in use
            avoid=self.avoid,
            pad=pad,
            clock=clock,
            overall_timeout=timeouts[0],
            inter_key_timeout=timeouts[1],
        )

    def _on_new_pin(self, new_pin: NewPin) -> None:
        """On the feeding thread: both entries matched; the card-write seam writes it once."""
        services = self.counter.services
        try:
            with new_pin.new.open() as new:
                result = services.initialise_pin(self.pin, new)  # wipes ``new``
        except MadoguchiError as exc:
            result = PinVerifyResult(self.pin, "error", detail=type(exc).__name__)
        self.post_message(PinVerified(result))


class HandedToJlis(Message):
    """The card-write seam handed a PIN's write to the J-LIS terminal (or failed to)."""

    def __init__(self, result: PinVerifyResult) -> None:
        super().__init__()
        self.result = result


class PinResetCardScreen(CounterScreen[CardStepResult | None]):
    """The card step of a reset, PIN by PIN; dismisses with a :class:`CardStepResult`."""

    BINDINGS = [Binding("escape", "stop", show=False)]  # noqa: RUF012

    def __init__(self, *, pins: Sequence[str], by_proxy: bool,
                 purpose: str = "pin_reset", session: Session | None = None) -> None:
        super().__init__(id="pin-reset-card" if purpose == "pin_reset" else "new-pins")
        self.session = session
        """The transaction's engine session: its birth-date forms (if read) advise."""
        self.pins = list(pins)
        self.by_proxy = by_proxy
        self.purpose = purpose
        """``pin_reset`` or ``new_pins``: the wording, the events' name, where it is kept."""
        self.index = 0
        self.written: list[str] = []
        self.busy = False
        """True while a prompt or the hand-over runs (no second choice meanwhile)."""
        self._note = ""

    @property
    def pin(self) -> str:
        """The PIN whose card step is under way."""
        return self.pins[self.index]

    @property
    def test_terminal(self) -> bool:
        """Whether this appliance writes the PIN itself (the virtual card)."""
        return self.counter.services.pin_writer_kind == "test_terminal"

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t(f"{self.purpose}.title"), self.title_right())
        with Vertical(id="pin-reset-box", classes="panel"):
            yield Static(id="pin-reset-progress")
            yield Static(id="pin-reset-lead")
            yield OptionList(id="pin-reset-choices")
            yield Static(id="pin-reset-message")
        yield KeyHelp(t("keys.pin_reset"))

    def on_mount(self) -> None:
        self.populate()

    def populate(self) -> None:
        self._show()

    def _show(self) -> None:
        t = self.t
        name = t(f"pin.names.{self.pin}")
        done = "、".join(t(f"pin.names.{pin}") for pin in self.written) or t("pin_reset.none")
        self.query_one("#pin-reset-progress", Static).update(Text(t(
            "pin_reset.progress", n=self.index + 1, total=len(self.pins), done=done),
            style="bold"))
        if not self.test_terminal:
            lead = t(f"{self.purpose}.jlis_proxy" if self.by_proxy else f"{self.purpose}.jlis",
                     pin=name)
            options = ((DONE, t("pin_reset.jlis_done")), (NOT_DONE, t("pin_reset.not_done")))
        elif self.by_proxy:
            # The proxy must never learn the new PIN: they step away before the clerk types.
            lead = t("pin_reset.step_away", pin=name)
            options = ((PAD, t("pin_reset.proxy_away")), (NOT_DONE, t("pin_reset.not_done")))
        else:
            lead = t("pin_reset.pad", pin=name)
            options = ((PAD, t("pin_reset.to_pad")), (NOT_DONE, t("pin_reset.not_done")))
        self.query_one("#pin-reset-lead", Static).update(
            ja_block(lead, style="bold #ffff00"))
        choices = self.query_one("#pin-reset-choices", OptionList)
        choices.clear_options()
        choices.add_options(Option(label, id=value) for value, label in options)
        choices.highlighted = 0
        choices.focus()
        self._say(self._note)

    def _say(self, text: str) -> None:
        self._note = text
        self.query_one("#pin-reset-message", Static).update(
            ja_block(text, style="bold yellow") if text else "")

    @on(OptionList.OptionSelected, "#pin-reset-choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if self.busy:
            return
        choice = event.option.id
        if choice == NOT_DONE:
            self._ended(PinVerifyResult(self.pin, NOT_DONE))
            self._finish(NOT_DONE)
        elif choice == DONE:
            self.busy = True
            self._hand_over(self.pin)
        elif choice == PAD:
            self._open_pad()

    # -- on a counter: the J-LIS terminal writes it --------------------------------------------

    @work(thread=True, exclusive=True, group="pin-reset", exit_on_error=False)
    def _hand_over(self, pin: str) -> None:
        try:
            result = self.counter.services.initialise_pin(pin, None)  # sends nothing
        except MadoguchiError as exc:
            result = PinVerifyResult(pin, "error", detail=type(exc).__name__)
        self.post_message(HandedToJlis(result))

    def on_handed_to_jlis(self, message: HandedToJlis) -> None:
        self.busy = False
        self._ended(message.result)

    # -- on the virtual card: the pad ----------------------------------------------------------

    def _open_pad(self) -> None:
        if self.counter.reader_state.presence is not Presence.PRESENT:
            self._say(self.t("pin_reset.card_needed"))
            return
        self.busy = True
        services = self.counter.services
        source = "form" if self.by_proxy else "pad"  # who types: the clerk from the form
        self.counter.record_action(f"{self.purpose}_pad", f"{self.pin}:{source}")
        screen = PinResetPromptScreen(
            pad=services.pin_pad, pin=self.pin, timeouts=services.pin_timeouts,
            clock=services.clock.monotonic, concealed=self.by_proxy, purpose=self.purpose,
            avoid=self.counter.birth_date_forms.for_transaction(self.session),
        )
        self.app.push_screen(screen, callback=self._prompted)

    def _prompted(self, result: PinVerifyResult | None) -> None:
        self.busy = False
        self._ended(result or PinVerifyResult(self.pin, "cancelled"))

    # -- every PIN's ending ----------------------------------------------------------------------

    def _ended(self, result: PinVerifyResult) -> None:
        """Record how this PIN's card step ended (the outcome only) and move on."""
        t = self.t
        self.counter.record_action(self.purpose, f"{result.pin}:{result.outcome}")
        self.counter.refresh_card()
        if result.outcome in ("written", "handed_to_jlis"):
            self.written.append(result.pin)
            self.app.notify(t(f"pin_reset.outcomes.{result.outcome}",
                              pin=t(f"pin.names.{result.pin}")))
            self._note = ""
            if self.index + 1 == len(self.pins):
                self._finish(result.outcome)
                return
            self.index += 1
            self._show()
        elif result.outcome != NOT_DONE:
            # Nothing retried by itself: the clerk chooses again (the pad, or not done).
            self._say(t(f"pin_reset.outcomes.{result.outcome}", pin=t(f"pin.names.{result.pin}"),
                        detail=result.detail) if t.has(f"pin_reset.outcomes.{result.outcome}")
                      else t("pin_reset.outcomes.error", detail=result.outcome))

    def _finish(self, by: str) -> None:
        concealed = self.by_proxy and bool(self.written)
        self.dismiss(CardStepResult(by, tuple(self.written), concealed))

    def action_stop(self) -> None:
        """Esc: nothing written yet → back to the step (nothing recorded); otherwise the
        card step is recorded as not done, naming what was written (the record must say)."""
        if self.busy:
            return
        if self.written or self.purpose == "new_pins":
            # something was written (the record must say), or an issuance's new PINs
            # were not set: the outcome follows and the record says so
            self.counter.record_action(self.purpose, f"{self.pin}:abandoned")
            self._finish(NOT_DONE)
        else:
            self.dismiss(None)

    def card_removed(self) -> bool:
        if not self.busy:
            self._say(self.t("pin_reset.card_needed"))
        return False


def card_step_screen(session: Session) -> PinResetCardScreen:
    """The card step for ``session`` (a 暗証番号の初期化・再設定 at its last step)."""
    return PinResetCardScreen(pins=chosen_pins(session), by_proxy=session.actor.value != "self",
                              session=session)


def new_pins_wanted(session: Session) -> bool:
    """Whether an issuance the engine continues still has its new PINs to set."""
    return (session.info.kind is Kind.ISSUANCE and not session.recorded_under("new_pins")
            and bool(planned.kinds_to_issue(session.evaluation)))


def new_pins_screen(session: Session) -> PinResetCardScreen:
    """The new PINs of the certificates ``session`` issues, 利用者証明用 first."""
    kinds = set(planned.kinds_to_issue(session.evaluation))
    pins = [pin for kind, pin in CERTIFICATE_PINS.items() if kind in kinds]
    # a 任意代理人 must never learn the PIN (the concealed form); a 法定代理人 sets it on
    # the pad as the applicant would
    return PinResetCardScreen(pins=pins, by_proxy=session.actor.value == "proxy",
                              purpose="new_pins", session=session)
