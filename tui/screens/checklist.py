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
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option

from device.procedures import Session, Step
from device.procedures import texts as engine_texts
from device.procedures.engine import StepValueError
from device.procedures.pin_reset import CARD_STEP as PIN_RESET_CARD_STEP
from device.records import AbandonmentReason
from madoguchi.errors import RuleError
from tui.screens.abandon import AbandonScreen
from tui.screens.base import CounterScreen
from tui.screens.fallback import CHIP_MATCH_STEP, FallbackScreen
from tui.screens.pin_reset import PIN_RESET_OPEN, CardStepResult, card_step_screen
from tui.screens.pin_retry import ABANDON, COLLATION_B, RETRY, PinRetryScreen
from tui.services import PinVerifyResult, Presence
from tui.text import ja_block
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.tick_list import TickList
from tui.widgets.type_ahead import TypeAheadGuard

#: Step-key endings the UI answers itself instead of asking the clerk.
OPERATOR_AUTH_STEP = ".card.operator_authenticated"
PIN_RESULT_STEP = ".card.pin_result"
#: How a PIN prompt's outcome is recorded for the engine; other outcomes record nothing.
PIN_RESULTS = {"verified": "verified", "wrong": "failed", "blocked": "blocked"}
#: How often, and how many times, the PIN step looks again while a card read finishes.
VERIFY_WAIT_S, VERIFY_WAIT_TICKS = 0.05, 100
#: Steps that the card on the reader answers or proposes have this in their key.
CARD_STEP = ".card."
#: Card kinds (``device.card.kind``) that answer the 顔認証カードか question; other kinds
#: (a 住基 card, a smartphone, an unknown card) propose nothing.
FACE_AUTH_KINDS = {"face_auth": True, "standard": False}


#: The PIN step's two ways forward (option ids): the applicant's PIN on the pad, or
#: the chip through 照合番号B without a PIN (a face-auth card the clerk did not
#: recognise, PINs never set, an applicant who does not know the PIN).
PIN_VERIFY, PIN_COLLATION_B = "pin:verify", "pin:collation_b"


#: Keys that answer a step from each kind of step input (the rest move or type).
ANSWER_KEYS: dict[str, frozenset[str]] = {
    "option": frozenset({"enter"}), "text": frozenset({"enter"}),
    "button": frozenset({"enter", "space"}), "pin": frozenset({"enter", "space"}),
    "ticks": frozenset({"enter"}),
}
#: Inputs whose answer the screen records (or refuses) itself. The PIN button only
#: opens the prompt, whose outcome may never come back here (no card, a read error).
RECORDING_ROLES = frozenset({"option", "text", "button", "ticks"})


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

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "abandon", show=False),
        Binding("f3", "back", show=False),
    ]

    def __init__(self, *, session: Session, answered: int = 0) -> None:
        super().__init__(id="checklist")
        self.session = session
        """The engine session this screen drives."""
        self.answered = answered
        """Steps recorded so far."""
        self.card_identity: str | None = None
        """The card whose facts this procedure holds (see :meth:`_card_read`)."""
        self._shown = 0
        self._proposed = False
        self.guard = TypeAheadGuard(self._typed_ahead)
        """Drops keys typed before the question on screen appeared (see :meth:`admit`)."""

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
            yield Static("", id="step-error", markup=False)
        yield KeyHelp(t("keys.checklist"))

    def on_mount(self) -> None:
        self.populate()
        self.watch(self.counter, "card_status", self._card_read, init=False)

    def _card_read(self, _: object = None) -> None:
        """A card was read (put back, or another card): propose from it if nothing is typed."""
        if self._other_card():
            return
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
            self.counter.show_outcome(
                self.session, card_identity=self.card_identity, answered=self.answered
            )
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
        self._error(t("checklist.typed_ahead") if self.guard.dropped else "")
        self._proposed = False
        self._shown += 1
        kind = step_kind(step)
        hint_box = self.query_one("#step-hint", Static)
        choice = self.query_one("#step-choice", OptionList)
        ticks = self.query_one("#step-multi", TickList)
        text = self.query_one("#step-text", Input)
        hint = ""
        target: Widget
        if step.key.endswith(PIN_RESULT_STEP) or step.key == PIN_RESET_CARD_STEP:
            self._fill(choice, *self._card_answers(step))
            target = choice
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

    def _card_answers(self, step: Step) -> tuple[tuple[tuple[str, str], ...], str]:
        """The ways forward of a step the card answers, and the highlighted one."""
        t = self.t
        if step.key == PIN_RESET_CARD_STEP:
            # 暗証番号の初期化・再設定: the card step itself answers (tui/screens/pin_reset.py).
            return ((PIN_RESET_OPEN, t("pin_reset.open")),), PIN_RESET_OPEN
        # The PIN result comes from the card, never from the clerk's say-so; the
        # other way forward is the chip through 照合番号B (or, on a 住基 card, the
        # check recorded as failed), so a card whose PIN cannot be used is no dead end.
        other = "checklist.pin_collation_b" if self._on_my_number_card(
            step, PIN_RESULT_STEP) else "checklist.pin_not_possible"
        return ((PIN_VERIFY, t("checklist.verify_pin")), (PIN_COLLATION_B, t(other))), PIN_VERIFY

    @staticmethod
    def _fill(choice: OptionList, options: Any, proposed: str) -> None:
        ids = [value for value, _ in options]
        choice.clear_options()
        choice.add_options(Option(label, id=value) for value, label in options)
        choice.highlighted = ids.index(proposed) if proposed in ids else 0

    def _ready(self) -> None:
        """The question on screen is the clerk's to answer from now on (see :meth:`admit`)."""
        self.guard.ready()

    def admit(self, role: str, event: events.Key) -> bool:
        """Whether a key reaching a step input counts; keys typed ahead are dropped.

        A key typed before the question on screen appeared (its time stamp is older)
        or while an answer is being recorded was meant for a question the clerk had
        not seen yet: it is dropped, never applied to another question. After a drop
        the next answering key is dropped too, so a Down lost ahead of the question
        can never leave its Enter to confirm an option the clerk did not pick.
        """
        if not self.guard.admit(event, ANSWER_KEYS[role]):
            return False
        if event.key in ANSWER_KEYS[role] and role in RECORDING_ROLES:
            self.guard.busy()  # until the next question is shown (or the answer refused)
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

    def _on_my_number_card(self, step: Step, ending: str = CHIP_MATCH_STEP) -> bool:
        """Whether the evidence this step belongs to is a My Number card (it has 照合番号B)."""
        facts: Any = self.session.recorded
        for part in step.key[: -len(ending)].split("."):
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
        if value == PIN_VERIFY:
            self._ready()  # the prompt's outcome may never come back (no card, busy)
            self._verify_pin()
            return
        if value == PIN_COLLATION_B:
            self._without_pin()
            return
        if value == PIN_RESET_OPEN:
            self._ready()  # Esc on the card step comes back here with nothing recorded
            self.app.push_screen(card_step_screen(self.session), callback=self._card_step_done)
            return
        if value in ("true", "false"):
            value = value == "true"
        self._record(value)

    def _verify_pin(self, waited: int = 0) -> None:
        # After a wrong PIN the app re-reads the card (to show the tries left); the app
        # allows one card conversation at a time, so 再入力 pressed meanwhile waits for
        # that read instead of being dropped without a word.
        if self.counter.card_reading and waited < VERIFY_WAIT_TICKS:
            self.set_timer(VERIFY_WAIT_S, lambda: self._verify_pin(waited + 1))
            return
        self.counter.verify_pin(self._pin_done)

    def _pin_done(self, result: PinVerifyResult) -> None:
        value = PIN_RESULTS.get(result.outcome)
        if result.outcome == "card_removed":
            self._error(self.t("checklist.card_removed"))
            return
        if result.outcome == "wrong" and (result.remaining or 0) > 0:
            # Tries left: the clerk decides with the applicant, nothing is recorded yet.
            self.app.push_screen(
                PinRetryScreen(pin=result.pin, remaining=result.remaining or 0),
                callback=self._retry_chosen,
            )
            return
        if value is None:
            remaining = "?" if result.remaining is None else str(result.remaining)
            self._error(self.t(f"pin.outcomes.{result.outcome}", remaining=remaining,
                               detail=result.detail))
            return
        self._record(value)

    def _card_step_done(self, result: CardStepResult | None) -> None:
        """The reset's card step ended: record how (the engine decides from it)."""
        if result is None:
            self._ready()
            return
        try:
            self.session.record_many(result.facts())
        except RuleError as exc:
            self._error(refusal(exc, self.t.language))
            return
        self.answered += 1
        self.counter.record_action("step_recorded", PIN_RESET_CARD_STEP)
        self._note_card()
        self.populate()

    def _retry_chosen(self, choice: str | None) -> None:
        """After a wrong PIN: enter it again, go to 照合番号B, 中止, or back to the step."""
        if choice == RETRY:
            # A new, explicit entry by the applicant: the tries are read again first
            # and the last one needs the clerk's confirmation, as for the first entry.
            self.counter.record_action("pin_retry_chosen", RETRY)
            self._verify_pin()
        elif choice == COLLATION_B:
            self.counter.record_action("pin_retry_chosen", COLLATION_B)
            self._record_pin_failed()
        elif choice == ABANDON:
            self.action_abandon()
        else:
            self._error(self.t("pin.outcomes.wrong_back"))

    def _without_pin(self) -> None:
        """照合番号B (or a failed check) chosen instead of the PIN; attributed to the clerk."""
        self.counter.record_action("pin_bypassed", self.session.info.id)
        self._record_pin_failed()

    def _record_pin_failed(self) -> None:
        """Record the PIN check as failed; the engine's fallback comes next, opened at once."""
        if not self._record("failed"):
            return
        step = self.session.next_step()
        if step is not None and step.key.endswith(CHIP_MATCH_STEP) \
                and self._on_my_number_card(step):
            self._open_fallback()

    @on(TickList.Confirmed, ".step-multi")
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

    def _record(self, value: Any) -> bool:
        step = self.session.next_step()
        if step is None:
            return False
        try:
            self.session.record(step.key, value)
        except RuleError as exc:
            # The engine refused the value; everything recorded before stays.
            self._error(refusal(exc, self.t.language))
            return False
        self.answered += 1
        self.counter.record_action("step_recorded", step.key)
        self._note_card()
        self.populate()
        return True

    def _error(self, text: str) -> None:
        widget = self.query_one("#step-error", Static)
        widget.update(text)
        widget.set_class(bool(text), "error")
        self._ready()  # the answer was refused: the clerk answers again

    # -- abandoning and going back ---------------------------------------------------------

    def action_abandon(self) -> None:
        """Esc: ask whether to abandon (中止) and why; the abandonment is recorded."""
        self.app.push_screen(AbandonScreen(session=self.session), callback=self._abandoned)

    def _abandoned(self, reason: AbandonmentReason | None) -> None:
        if reason is None:
            self._ready()  # back to the question, nothing recorded
            return
        t = self.t
        self.counter.finish_procedure(
            t("abandon.recorded", reason=t(f"abandon.reasons.{reason.value}"))
        )

    def action_back(self) -> None:
        """F3: take back the last answer and ask that step again."""
        if not go_back(self.session):
            self._error(self.t("checklist.nothing_to_undo"))
            return
        self.answered = max(0, self.answered - 1)
        self.counter.record_action("step_taken_back", self.session.info.id)
        self.populate()

    # -- the card on the reader ---------------------------------------------------------

    def _note_card(self) -> None:
        """Remember which card the facts recorded come from (the first one read)."""
        status = self.counter.card_status
        if self.card_identity is None and status is not None and status.identity \
                and self.counter.reader_state.presence is Presence.PRESENT:
            self.card_identity = status.identity

    def _other_card(self) -> bool:
        """A different card is on the reader: withdraw the first card's facts, ask again.

        Facts the chip gave or that were checked against the card (its expiry, kind,
        PIN result, the 照合番号B comparison...) belong to one card; an outcome never
        mixes two. Returns True if facts were withdrawn (the step is asked again).
        """
        status = self.counter.card_status
        if status is None or not status.identity:
            return False
        if self.card_identity is None or status.identity == self.card_identity:
            self.card_identity = self.card_identity or (
                status.identity if card_facts(self.session) else None)
            return False
        self.card_identity = status.identity
        withdrawn = withdraw_card_facts(self.session)
        if not withdrawn:
            return False
        self.counter.record_action("card_swapped", ",".join(withdrawn))
        self.answered = 0
        self.populate()
        self._error(self.t("checklist.card_swapped"))
        return True


def card_facts(session: Session) -> list[str]:
    """The step-key prefixes under which facts of a card are recorded in ``session``."""
    return [prefix for prefix in CARD_PREFIXES if session.recorded_under(prefix)]


#: Where the facts a card answers live (the applicant's card, the proxy's own card).
CARD_PREFIXES = ("applicant_id.card", "proxy.id.card")


def withdraw_card_facts(session: Session) -> list[str]:
    """Forget every card fact (and so everything decided from it); the prefixes forgotten."""
    prefixes = card_facts(session)
    for prefix in prefixes:
        session.forget(prefix)
    return prefixes


def go_back(session: Session) -> bool:
    """Take back the last answer; answers the UI gives itself are taken back with it.

    The terminal's operator authentication is recorded by the checklist on its own;
    taking back only that would have it recorded again at once, so the clerk's own
    answer before it goes too. ``False`` when nothing is recorded.
    """
    if not session.can_go_back:
        return False
    keys = session.back()
    while session.can_go_back and all(key.endswith(OPERATOR_AUTH_STEP) for key in keys):
        keys = session.back()
    return True
