"""The guided checklist: one step of the procedure engine at a time, with its citation.

The engine (``device.procedures.Session``) decides what comes next; this screen
only asks, validates the form of the answer and records it. A value the engine
refuses (:class:`~madoguchi.errors.RuleError`) is shown and nothing recorded so
far is lost. When the engine has a decision, the outcome screen takes over.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events, on
from textual._time import get_time
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from device.procedures import Session, Step
from device.procedures import texts as engine_texts
from device.procedures.engine import StepValueError
from madoguchi.errors import RuleError
from tui.screens.base import CounterScreen
from tui.screens.fallback import CHIP_MATCH_STEP, FallbackScreen
from tui.services import PinVerifyResult, Presence
from tui.text import ja_block
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.tick_list import TickList

#: Step-key endings the UI answers itself instead of asking the clerk.
OPERATOR_AUTH_STEP = "card.operator_authenticated"
PIN_RESULT_STEP = "card.pin_result"
#: How a PIN prompt's outcome is recorded for the engine; other outcomes record nothing.
PIN_RESULTS = {"verified": "verified", "wrong": "failed", "blocked": "blocked"}
#: Steps that the card on the reader answers or proposes have this in their key.
CARD_STEP = ".card."
#: Card kinds (``device.card.kind``) that answer the 顔認証カードか question; other kinds
#: (a 住基 card, a smartphone, an unknown card) propose nothing.
FACE_AUTH_KINDS = {"face_auth": True, "standard": False}


#: Keys that answer a step from each kind of step input (the rest move or type).
ANSWER_KEYS: dict[str, frozenset[str]] = {
    "option": frozenset({"enter"}), "text": frozenset({"enter"}),
    "button": frozenset({"enter", "space"}), "pin": frozenset({"enter", "space"}),
    "ticks": frozenset(),
}
#: Inputs whose answer the screen records (or refuses) itself. The PIN button only
#: opens the prompt, whose outcome may never come back here (no card, a read error).
RECORDING_ROLES = frozenset({"option", "text", "button"})


def _admit(widget: Widget, role: str, event: events.Key) -> bool:
    """Whether the checklist lets ``event`` reach ``widget``; a refused key is dropped whole."""
    screen = widget.screen
    if isinstance(screen, ChecklistScreen) and not screen.admit(role, event):
        event.prevent_default()  # neither the widget nor any binding sees it
        event.stop()
        return False
    return True


class StepOptionList(OptionList):
    """The options of a choice step; its keys pass the checklist's type-ahead guard."""

    async def _on_key(self, event: events.Key) -> None:
        _admit(self, "option", event)


class StepInput(Input):
    """The text of a text or date step; its keys pass the checklist's type-ahead guard."""

    async def _on_key(self, event: events.Key) -> None:
        _admit(self, "text", event)  # Input's own handler runs next unless refused


class StepTickList(TickList):
    """The ticks of a list or fields step; its keys pass the checklist's type-ahead guard."""

    async def _on_key(self, event: events.Key) -> None:
        _admit(self, "ticks", event)


class StepButton(Button):
    """Next / verify the PIN; its keys pass the checklist's type-ahead guard."""

    async def _on_key(self, event: events.Key) -> None:
        _admit(self, "pin" if self.id == "step-pin" else "button", event)


#: What a date step lets the clerk type: digits, separators and the Japanese date forms.
DATE_CHARACTERS = r"[0-9０-９/／.．\-－年月日令和平成昭RHS元]*"


def refusal(exc: RuleError, language: str) -> str:
    """What the clerk reads when the engine refuses an answer: the question by its
    name and what it expects (never a fact's path or the typed value)."""
    if isinstance(exc, StepValueError):
        return exc.text(language)
    return str(exc)


def step_kind(step: Step) -> str:
    """The input a step needs: ``choice``, ``multi``, ``fields``, ``date`` or ``text``."""
    kind = step.value_type.partition(":")[0]
    return {
        "bool": "choice", "enum": "choice", "list": "multi", "object": "fields", "date": "date",
    }.get(kind, "text")


class ChecklistScreen(CounterScreen[None]):
    """Asks the engine's next step until it decides; then opens the outcome screen."""

    BINDINGS = [Binding("escape", "abandon", show=False)]  # noqa: RUF012

    def __init__(self, *, session: Session) -> None:
        super().__init__(id="checklist")
        self.session = session
        """The engine session this screen drives."""
        self.answered = 0
        """Steps recorded so far."""
        self._shown = 0
        self._proposed = False
        self._shown_at = 0.0
        self._answering = False
        self._dropped = False

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        t = self.t
        lang = t.language
        info = self.session.info
        yield TitleBar(
            f"{info.citation} {engine_texts.procedure_title(info.id, lang)}", self.title_right()
        )
        with Vertical(id="checklist-box", classes="panel"):
            yield Static(id="step-progress")
            yield Static(id="step-citation")
            yield Static(id="step-question")
            # Every kind of input exists from the start and is only shown, filled and
            # focused: the key after an answer finds the next question's input there.
            with Vertical(id="step-input"):
                yield Static(id="step-hint", classes="step-hint")
                yield StepOptionList(id="step-choice", classes="step-choice")
                yield StepTickList(id="step-multi", classes="step-multi")
                yield StepButton(t("checklist.next"), id="step-next", classes="step-next")
                yield StepInput(id="step-text", classes="step-text")
                yield StepButton(t("checklist.verify_pin"), id="step-pin", classes="step-pin")
            yield Static("", id="step-error", markup=False)
        yield KeyHelp(t("keys.checklist"))

    def on_mount(self) -> None:
        self.populate()
        self.watch(self.counter, "card_status", self._card_read, init=False)

    def _card_read(self, _: object = None) -> None:
        """A card was read (put back, or another card): propose from it if nothing is typed."""
        step = self.session.next_step()
        if step is None or self._proposed or not self._proposal(step)[1] \
                or not self.is_current:
            return
        field = self.query_one("#step-text", Input)
        if not (field.display and field.value):
            self._show_step(step)

    def populate(self) -> None:
        step = self.session.next_step()
        while step is not None and step.key.endswith(OPERATOR_AUTH_STEP):
            # Nobody reaches this screen without signing in: the terminal's operator
            # authentication is a fact, not a question.
            self.session.record(step.key, True)
            self.counter.record_action("step_recorded", step.key)
            step = self.session.next_step()
        if step is None:
            self.counter.show_outcome(self.session)
            return
        self._show_step(step)

    def _show_step(self, step: Step) -> None:
        t = self.t
        lang = t.language
        self.query_one("#step-progress", Static).update(
            t("checklist.step", n=self.answered + 1, actor=engine_texts.value_label(
                self.session.actor.value, lang))
        )
        self.query_one("#step-citation", Static).update(Text(step.citation, style="bold"))
        self.query_one("#step-question", Static).update(
            ja_block(step.text(lang), style="bold #ffff00")  # no lone 「。」, no cut citation
        )
        # Keys dropped while the last answer was recorded: say so on the new question.
        self._error(t("checklist.typed_ahead") if self._dropped else "")
        self._proposed = False
        self._shown += 1
        kind = step_kind(step)
        hint_box = self.query_one("#step-hint", Static)
        choice = self.query_one("#step-choice", OptionList)
        ticks = self.query_one("#step-multi", TickList)
        text = self.query_one("#step-text", Input)
        hint = ""
        target: Widget
        if step.key.endswith(PIN_RESULT_STEP):
            # The PIN result comes from the card, never from the clerk's say-so.
            target = self.query_one("#step-pin", Button)
        elif step.key.endswith(CHIP_MATCH_STEP) and self._on_my_number_card(step):
            # The match comes from the chip read through 照合番号B, never from a bare
            # 'yes'; a card that cannot be read is recorded as not matching.
            self._fill(choice, (("fallback", t("checklist.fallback")),
                                ("false", t("checklist.no_chip"))), "")
            target = choice
        elif kind == "choice":
            options = step.options(lang) or (("true", t("checklist.yes")),
                                             ("false", t("checklist.no")))
            proposed, hint = self._proposal(step)
            # The chip's answer is highlighted, else the step's safe default (never one
            # that decides 受付不可 by itself); Enter confirms it, arrows change it.
            self._fill(choice, options, proposed or step.default_option)
            target = choice
        elif kind in ("multi", "fields"):
            values = self._fields(step) if kind == "fields" else step.options(lang)
            ticks.clear_options()
            ticked = step.default if isinstance(step.default, list) else []
            ticks.add_options([(label, value, value in ticked) for value, label in values])
            ticks.highlighted = 0
            target = ticks
        else:
            proposed, hint = self._proposal(step)
            text.value = ""  # the last text step's answer must not meet this step's rules
            # 2034-04-01, 2034/4/1, 2034.4.1, 2034年4月1日, 令和16年4月1日 (R16.4.1)
            text.restrict = DATE_CHARACTERS if kind == "date" else None
            text.max_length = 12 if kind == "date" else 200
            text.placeholder = t("checklist.date_hint") if kind == "date" else ""
            text.value = proposed
            text.cursor_position = len(proposed)
            target = text
        self._proposed = bool(hint)
        hint_box.update(hint)
        hint_box.display = bool(hint)
        for widget in self.query_one("#step-input", Vertical).children:
            if widget is not hint_box:
                widget.display = widget is target or (
                    target is ticks and widget.id == "step-next")
        self.set_focus(target)  # now, not after a refresh: the next key goes to it
        self._ready()

    @staticmethod
    def _fill(choice: OptionList, options: Any, proposed: str) -> None:
        ids = [value for value, _ in options]
        choice.clear_options()
        choice.add_options(Option(label, id=value) for value, label in options)
        choice.highlighted = ids.index(proposed) if proposed in ids else 0

    def _ready(self) -> None:
        """The question on screen is the clerk's to answer from now on (see :meth:`admit`)."""
        self._shown_at = get_time()
        self._answering = False

    def admit(self, role: str, event: events.Key) -> bool:
        """Whether a key reaching a step input counts; keys typed ahead are dropped.

        A key typed before the question on screen appeared (its time stamp is older)
        or while an answer is being recorded was meant for a question the clerk had
        not seen yet: it is dropped, never applied to another question. After a drop
        the next answering key is dropped too, so a Down lost ahead of the question
        can never leave its Enter to confirm an option the clerk did not pick.
        """
        if self._answering or event.time < self._shown_at:
            self._dropped = True
            self._typed_ahead()
            return False
        if event.key in ANSWER_KEYS[role]:
            if self._dropped:
                self._dropped = False
                self._typed_ahead()
                return False
            self._answering = role in RECORDING_ROLES
        return True

    def _typed_ahead(self) -> None:
        # Without a word on screen a dropped Enter looks like a dead key to the clerk.
        self._error(self.t("checklist.typed_ahead"))

    def _proposal(self, step: Step) -> tuple[str, str]:
        """``(value, hint)`` the card on the reader proposes for ``step``; ``("", "")`` if none.

        The chip's expiry date and, from the card kind the card layer inferred, whether
        it is a 顔認証 card. Only a proposal: the clerk checks the card face and confirms
        (the hint says so); taking the card away withdraws it.
        """
        status = self.counter.card_status
        if status is None or status.error or self.counter.reader_state.presence \
                is not Presence.PRESENT:
            return "", ""
        t = self.t
        if step.key.endswith(".card.expiry") and status.expiry:
            return status.expiry, t("checklist.from_chip_expiry")
        if step.key.endswith(".card.face_auth") and status.kind in FACE_AUTH_KINDS:
            face_auth = FACE_AUTH_KINDS[status.kind]
            hint = "checklist.from_chip_face_auth" if face_auth else "checklist.from_chip_standard"
            return ("true" if face_auth else "false"), t(hint)
        return "", ""

    def _on_my_number_card(self, step: Step) -> bool:
        """Whether the evidence this step belongs to is a My Number card (it has 照合番号B)."""
        facts: Any = self.session.recorded
        for part in step.key[: -len(CHIP_MATCH_STEP)].split("."):
            facts = facts.get(part, {}) if isinstance(facts, dict) else {}
        return isinstance(facts, dict) and facts.get("kind") == "my_number_card"

    def card_removed(self) -> bool:
        """The card left: a card step loses what the chip proposed, and the clerk is told.

        The PIN prompt, the last-try question and the fallback screen above have
        already abandoned their step; nothing the card did not answer is recorded.
        """
        step = self.session.next_step()
        if step is None or CARD_STEP not in step.key:
            return False
        if self._proposed:
            self._show_step(step)  # the chip's proposal goes with the card
        self._error(self.t("checklist.card_removed"))
        return False

    def _open_fallback(self) -> None:
        if self.counter.reader_state.presence is not Presence.PRESENT:
            self._error(self.t("pin.card_needed"))
            return

        def done(recorded: bool | None) -> None:
            if recorded:
                self.answered += 1
                self.populate()
            else:
                self._ready()

        self.app.push_screen(FallbackScreen(session=self.session), callback=done)

    def _fields(self, step: Step) -> tuple[tuple[str, str], ...]:
        names = step.value_type.partition(":")[2].split(",")
        lang = self.t.language
        return tuple((name, engine_texts.value_label(name, lang)) for name in names)

    # -- answers --------------------------------------------------------------------------

    @on(OptionList.OptionSelected, ".step-choice")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        value: Any = event.option.id
        if value == "fallback":
            self._open_fallback()
            return
        if value in ("true", "false"):
            value = value == "true"
        self._record(value)

    @on(Button.Pressed, ".step-pin")
    def _verify_pin(self) -> None:
        self.counter.verify_pin(self._pin_done)

    def _pin_done(self, result: PinVerifyResult) -> None:
        value = PIN_RESULTS.get(result.outcome)
        if result.outcome == "card_removed":
            self._error(self.t("checklist.card_removed"))
            return
        if value is None:
            remaining = "?" if result.remaining is None else str(result.remaining)
            self._error(self.t(f"pin.outcomes.{result.outcome}", remaining=remaining,
                               detail=result.detail))
            return
        self._record(value)

    @on(Button.Pressed, ".step-next")
    def _multi_done(self) -> None:
        step = self.session.next_step()
        if step is None:
            return
        selected = list(self.query_one("#step-multi", TickList).selected)
        if step_kind(step) == "fields":
            self._record({name: name in selected for name, _ in self._fields(step)})
        else:
            self._record(selected)

    @on(Input.Submitted, ".step-text")
    def _text_done(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self._error(self.t("checklist.empty"))
            return
        self._record(value)

    def _record(self, value: Any) -> None:
        step = self.session.next_step()
        if step is None:
            return
        try:
            self.session.record(step.key, value)
        except RuleError as exc:
            # The engine refused the value; everything recorded before stays.
            self._error(refusal(exc, self.t.language))
            return
        self.answered += 1
        self.counter.record_action("step_recorded", step.key)
        self.populate()

    def _error(self, text: str) -> None:
        widget = self.query_one("#step-error", Static)
        widget.update(text)
        widget.set_class(bool(text), "error")
        self._ready()  # the answer was refused: the clerk answers again

    def action_abandon(self) -> None:
        """Leave the procedure without a record (attributed to the operator)."""
        self.counter.record_action("procedure_abandoned", self.session.info.id)
        self.dismiss(None)
