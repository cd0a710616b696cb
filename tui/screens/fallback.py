"""The fallback path: 照合番号B, the chip's card-face data beside the card face, the declaration.

When the applicant's card is a face-authentication card or the PIN check failed,
section B of the guidelines accepts the identity only through the chip: the
clerk types 照合番号B from the card face (not a PIN, but personal data), the
card layer reads the 基本4情報 and the 券面AP data and verifies their chip
signatures, and the clerk compares them with what is printed. This screen then
records the comparison and the declaration of 住民票／戸籍の附票 items into the
checklist's engine session, so the checklist does not ask them again.

照合番号B never reaches a widget: keys are taken here, the digits live in a
``bytearray`` that is wiped when handed to the card worker, on Esc and on
unmount; the screen shows only how many were typed. The My Number is never read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from device.procedures import Session, Step
from madoguchi.errors import MadoguchiError, RuleError
from tui.screens.base import CounterScreen
from tui.screens.last_try import LastTryScreen
from tui.services import IdentityView, PinView
from tui.widgets.bars import KeyHelp, TitleBar
from tui.widgets.card_photo import drawing, photo_widget, wipe_picture
from tui.widgets.tick_list import TickList

#: 照合番号B: birth date YYMMDD (era year) + expiry year + 4-digit security code.
CODE_LENGTH = 14
#: The counter the card layer verifies first.
COLLATION_B = "support_collation_b"
#: Every key one typed 照合番号B is verified against, each with its own try counter:
#: the 入力補助 AP's first, then the 券面 AP's. Both are read and named (issue 13.6).
COLLATION_B_COUNTERS = (COLLATION_B, "card_face_collation_b")
#: Step-key endings this screen records (with the person prefix before them).
CHIP_MATCH_STEP = ".card.chip_face_match"
#: Recorded beside a mismatch when the chip's signatures failed (偽造カードの疑い).
COUNTERFEIT_STEP = ".card.counterfeit_suspected"
DECLARATION_STEPS = (".card.declaration.items", ".card.declaration.subject")
#: The printed items the clerk compares, in the order of the card face.
COMPARED = ("name", "address", "birth_date", "sex", "expiry")
#: ISO 5218 sex codes -> catalogue keys under ``fallback.sexes``.
SEXES = {"0": "unknown", "1": "male", "2": "female", "9": "not_applicable"}
#: Japanese eras as the card face prints birth dates: (first day, name).
ERAS = (
    (dt.date(2019, 5, 1), "令和"),
    (dt.date(1989, 1, 8), "平成"),
    (dt.date(1926, 12, 25), "昭和"),
    (dt.date(1912, 7, 30), "大正"),
    (dt.date(1868, 1, 25), "明治"),
)
MASK_FILLED, MASK_EMPTY = "●", "○"
#: How textual-image draws where the name and address images are legible (real pixels).
PIXEL_DRAWINGS = ("sixel", "tgp")


def era_date(day: dt.date) -> str:
    """``1985-04-01`` as printed on a card face: 昭和60年4月1日 (元年 for the first year)."""
    for start, name in ERAS:
        if day >= start:
            year = day.year - start.year + 1
            return f"{name}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return day.isoformat()


def code_mask(length: int) -> str:
    """The typed count only, grouped as the card face prints 照合番号B's parts (6, 4, 4).

    A space after every glyph: ● and ○ are East Asian "ambiguous" width, one cell to
    Textual but drawn two cells wide by the kiosk's Noto Sans Mono CJK in foot, where
    glyphs side by side overlapped and could not be counted.
    """
    glyphs = [MASK_FILLED] * length + [MASK_EMPTY] * (CODE_LENGTH - length)
    return "  ".join(" ".join(glyphs[a:b]) for a, b in ((0, 6), (6, 10), (10, 14)))


def wipe(buffer: bytearray) -> None:
    """Overwrite, then empty, a buffer that held 照合番号B digits."""
    buffer[:] = bytes(len(buffer))
    buffer.clear()


class IdentityChecked(Message):
    """The card worker finished the 照合番号B identity check."""

    def __init__(self, view: IdentityView) -> None:
        super().__init__()
        self.view = view


class CollationTriesRead(Message):
    """The card worker read the tries left of each 照合番号B counter (``None``: could not)."""

    def __init__(self, statuses: dict[str, PinView | None]) -> None:
        super().__init__()
        self.statuses = statuses


class FallbackScreen(CounterScreen[bool]):
    """Reads the chip through 照合番号B and records the comparison and the declaration.

    Dismisses with True once the engine steps it fills are recorded, False when
    the clerk went back without recording the comparison.

    Args:
        session: the checklist's engine session; its next step is the chip match.
    """

    AUTO_FOCUS = None  # nothing takes keys while 照合番号B is typed; phases focus their input

    def __init__(self, *, session: Session) -> None:
        super().__init__(id="fallback")
        self.session = session
        self.phase = "entry"
        """``entry``, ``reading``, ``compare`` or ``declare``."""
        self.view: IdentityView | None = None
        """What the chip held, after a successful read."""
        self.tries_left: int | None = None
        """The fewest tries left of the two 照合番号B counters (what one entry may spend)."""
        self.tries_state: str | None = None
        self.counters: dict[str, PinView | None] = {}
        """Each 照合番号B counter as last read."""
        self.message = ""
        self._message_is_error = False
        self._code = bytearray()
        self._side_shown: tuple[str, str] | None = None
        """The phase and step whose input is shown (its highlight is kept while it is)."""

    @property
    def typed(self) -> int:
        """How many digits of 照合番号B are typed (all the screen shows)."""
        return len(self._code)

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        t = self.t
        yield TitleBar(t("fallback.title"), self.title_right())
        with Vertical(id="fallback-box", classes="panel"):
            yield Static(id="fallback-step")
            with Vertical(id="fallback-entry"):
                yield Static(t("fallback.lead"), id="fallback-lead")
                yield Static(t("fallback.entry"), id="fallback-entry-text")
                yield Static(id="fallback-mask")
                yield Static(t("fallback.entry_parts"), id="fallback-parts")
                yield Static(id="fallback-tries")
            yield Static("", id="fallback-warning", classes="error")
            with Horizontal(id="fallback-compare"):
                with Vertical(id="fallback-chip-column"):
                    yield Static(id="fallback-chip")
                    # The chip's face photo, drawn as the terminal can (card_photo).
                    with Horizontal(id="fallback-photo"):
                        yield Static(t("fallback.photo"), id="fallback-photo-label")
                # Both phases' inputs exist from the start and are only shown and
                # focused: keys that arrive the moment a phase begins (a fast
                # clerk's burst) find their widget already there.
                with Vertical(id="fallback-side"):
                    yield Static(t("fallback.compare_lead"), classes="fallback-side-lead",
                                 id="fallback-compare-lead")
                    yield TickList(
                        *((t(f"fallback.items.{item}"), item) for item in COMPARED),
                        id="fallback-items", classes="fallback-items",
                    )
                    yield Button(t("fallback.record"), id="fallback-record",
                                 classes="fallback-record")
                    yield Static(classes="fallback-side-lead", id="fallback-declare-lead")
                    yield OptionList(id="fallback-declare", classes="fallback-declare")
            yield Static("", id="fallback-message", markup=False)
        yield KeyHelp(self._key_help())

    def _key_help(self) -> str:
        return self.t("keys.fallback" if self.phase in ("entry", "reading")
                      else "keys.fallback_compare")

    async def recompose(self) -> None:
        """A language switch relabels in place; the inputs the clerk types into stay.

        Rebuilding them would drop the keys of a burst that arrive between the
        switch and the rebuild, and with them ticks the clerk typed.
        """
        t = self.t
        self.query_one("#title-text", Static).update(t("fallback.title"))
        for widget_id, key in (("lead", "lead"), ("entry-text", "entry"),
                               ("parts", "entry_parts"), ("compare-lead", "compare_lead")):
            self.query_one(f"#fallback-{widget_id}", Static).update(t(f"fallback.{key}"))
        self.query_one("#fallback-record", Button).label = t("fallback.record")
        items = self.query_one("#fallback-items", TickList)
        for index, item in enumerate(COMPARED):
            items.replace_option_prompt_at_index(index, t(f"fallback.items.{item}"))
        self.populate()

    def on_mount(self) -> None:
        self.populate()
        self._read_tries()

    def populate(self) -> None:
        step = self.session.next_step()
        if step is not None:
            self.query_one("#fallback-step", Static).update(Text.assemble(
                (step.citation, "bold"), " ", (step.text(self.t.language), "bold yellow"),
            ))
        entering = self.phase in ("entry", "reading")
        self.query_one("#fallback-entry").display = entering
        self.query_one("#fallback-compare").display = not entering
        self.query_one("#fallback-warning").display = False
        self.query_one(KeyHelp).update(self._key_help())
        self._show_mask()
        self._show_tries()
        self._show_message()
        if not entering:
            self._show_chip()
            self._show_side(step)

    def _show_mask(self) -> None:
        self.query_one("#fallback-mask", Static).update(Text(code_mask(self.typed), style="bold"))

    def _show_tries(self) -> None:
        t = self.t
        if self.tries_left is None and self.tries_state is None:
            text = t("fallback.tries_reading")
        elif self.tries_state == "blocked" or self.tries_left == 0:
            text = t("fallback.outcomes.blocked")
        elif self.tries_left is None:
            text = t("fallback.tries_unknown")
        elif len(left := self._counters_left()) == 2 and left[0] != left[1]:
            # The two counters differ (one was spent without the other): name each.
            text = t("fallback.counters.each", s=left[0], f=left[1])
        else:
            text = t("fallback.tries_left", tries=self.tries_left)
        self.query_one("#fallback-tries", Static).update(Text(text, style="bold"))

    def _counters_left(self) -> list[int]:
        """Tries left of each counter read with a number, in :data:`COLLATION_B_COUNTERS` order."""
        views = (self.counters.get(counter) for counter in COLLATION_B_COUNTERS)
        return [view.remaining for view in views if view is not None and view.remaining is not None]

    def _at_last_try(self) -> tuple[str, ...]:
        """The counters one more wrong 照合番号B would block (both when only the total is known)."""
        last = tuple(
            counter for counter in COLLATION_B_COUNTERS
            if (view := self.counters.get(counter)) is not None
            and (view.remaining == 1 or view.state == "last_try")
        )
        if not last and (self.tries_left == 1 or self.tries_state == "last_try"):
            return COLLATION_B_COUNTERS
        return last

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message, self._message_is_error = text, error
        self._show_message()

    def _show_message(self) -> None:
        widget = self.query_one("#fallback-message", Static)
        widget.update(self.message)
        widget.set_class(self._message_is_error, "error")

    def _show_chip(self) -> None:
        view, t = self.view, self.t
        if view is None:
            return
        ja = t.language == "ja"

        def day(iso: str) -> str:
            if not iso:
                return t("common.none")
            date = dt.date.fromisoformat(iso)
            return f"{iso}（{era_date(date)}）" if ja else iso

        def sex(code: str) -> str:
            return t(f"fallback.sexes.{SEXES[code]}") if code in SEXES else code or "?"

        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column()
        birth = Text(day(view.birth_date))
        if view.face_birth_date and view.face_birth_date != view.birth_date:
            birth.append(t("fallback.sources_differ", other=day(view.face_birth_date)),
                         style="bold reverse")
        gender = Text(sex(view.sex))
        if view.face_sex and view.face_sex != view.sex:
            gender.append(t("fallback.sources_differ", other=sex(view.face_sex)),
                          style="bold reverse")
        missing = Text(t("fallback.unreadable"), style="bold reverse")
        basic4_gone = "basic4" in view.unreadable
        grid.add_row(t("fallback.items.name"),
                     missing if basic4_gone else view.name or t("common.none"))
        grid.add_row(t("fallback.items.address"),
                     missing if basic4_gone else view.address or t("common.none"))
        grid.add_row(t("fallback.items.birth_date"), birth)
        grid.add_row(t("fallback.items.sex"), gender)
        face_gone = "card_face" in view.unreadable
        grid.add_row(t("fallback.items.expiry"),
                     missing if face_gone else view.expiry or t("common.none"))
        if view.endorsement:
            grid.add_row(t("fallback.endorsement"), view.endorsement)
        if face_gone:
            grid.add_row(t("fallback.card_face"), missing)
        for piece in ("photo", "name_image", "address_image"):
            if piece in view.unreadable and not face_gone:
                grid.add_row(t(f"fallback.{piece}"), missing)
        for index, (name, ok, _reason) in enumerate(view.checks):
            mark = ("fallback.check_undecided" if ok is None
                    else "fallback.check_ok" if ok else "fallback.check_ng")
            grid.add_row(
                t("fallback.checks_title") if index == 0 else "",
                Text(t(mark, name=t(f"fallback.checks.{name}")),
                     style="bold reverse" if ok is False else ""),
            )
        warning = self.query_one("#fallback-warning", Static)
        warning.display = view.genuine is not True
        reasons = self._reasons(view)
        warning.update(
            "" if view.genuine is True
            else t("fallback.counterfeit" if view.genuine is False else "fallback.not_genuine",
                   reasons=reasons)
        )
        parts: list[Any] = [Text(t("fallback.chip_title"), style="bold yellow"), grid]
        if view.test_card:
            parts.append(Text(t("fallback.test_card")))
        self.query_one("#fallback-chip", Static).update(Group(*parts))
        self._show_photo(view)

    def _show_photo(self, view: IdentityView) -> None:
        """Draw the chip's photo beside the label, once; hide the row when there is none.

        The name and address images go beside the photo only where the terminal draws
        pixels (sixel or Kitty graphics: the kiosk's foot). In half blocks a cell holds
        two pixels: the 256x32 name image squeezed into the 30-odd cells beside the
        photo leaves each kanji four pixels wide, nothing a clerk can read, at 80x24 and
        at 100x30 alike; there the chip's text (already on screen) is what is compared.
        """
        holder = self.query_one("#fallback-photo", Horizontal)
        holder.display = view.photo is not None
        self.query_one("#fallback-photo-label", Static).update(self.t("fallback.photo"))
        if view.photo is None or holder.query("#fallback-photo-image"):
            return
        holder.mount(photo_widget(view.photo, widget_id="fallback-photo-image"))
        images = [(key, image) for key, image in (("name_image", view.name_image),
                                                  ("address_image", view.address_image))
                  if image is not None]
        if images and drawing() in PIXEL_DRAWINGS:
            column = Vertical(id="fallback-face-images")
            holder.mount(column)
            for key, image in images:
                column.mount(Static(self.t(f"fallback.{key}"), classes="fallback-face-label"))
                column.mount(photo_widget(image, widget_id="fallback-" + key.replace("_", "-")))

    def _drop_photo(self) -> None:
        """Take the card face's pictures off the screen and overwrite their pixels (they
        are personal data)."""
        for widget in self.query("#fallback-photo-image, #fallback-face-images"):
            widget.remove()
        if self.view is not None:
            for picture in (self.view.photo, self.view.name_image, self.view.address_image):
                wipe_picture(picture)

    def _reasons(self, view: IdentityView) -> str:
        """Why the chip is not shown genuine, each reason once, in the clerk's language.

        A failed signature is named before a check that could not be made, so the
        counterfeit warning starts with what failed.
        """
        t = self.t
        said: list[str] = []
        for wanted in (False, None):
            for name, ok, reason in view.checks:
                if ok is not wanted:
                    continue
                text = t(f"fallback.reasons.{reason}", name=t(f"fallback.checks.{name}"))
                if text not in said:
                    said.append(text)
        return t("fallback.reason_joiner").join(said)

    def _show_side(self, step: Step | None) -> None:
        """Show the current phase's input and focus it now, not after a refresh.

        Focus is set synchronously so that the very next key the app takes goes
        to this input; a deferred focus let the first keys of a burst fall to
        the screen, which dropped ticks and recorded a mismatch.
        """
        t = self.t
        comparing = self.phase == "compare"
        declaring = not comparing and step is not None
        items = self.query_one("#fallback-items", TickList)
        declare = self.query_one("#fallback-declare", OptionList)
        for widget in (self.query_one("#fallback-compare-lead"), items,
                       self.query_one("#fallback-record")):
            widget.display = comparing
        lead = self.query_one("#fallback-declare-lead", Static)
        for widget in (lead, declare):
            widget.display = declaring
        shown = (self.phase, step.key if step is not None else "")
        fresh = shown != self._side_shown
        self._side_shown = shown
        target: Widget | None = None
        if comparing:
            # Set here, not left to the list's focus handler: a Space already
            # queued would otherwise find no highlighted item and tick nothing.
            if fresh:
                items.highlighted = 0
            target = items
        elif step is not None:
            lead.update(Text(step.text(t.language), style="bold yellow"))
            keep = 0 if fresh or declare.highlighted is None else declare.highlighted
            declare.clear_options()
            declare.add_options(
                Option(label, id=value) for value, label in step.options(t.language))
            declare.highlighted = keep
            target = declare
        self.set_focus(target)

    # -- 照合番号B entry --------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        if self.phase not in ("entry", "reading"):
            if event.key == "escape":
                event.stop()
                self._leave()
            return
        # While 照合番号B is typed every key stops here: no widget ever holds it.
        event.stop()
        event.prevent_default()
        if event.key == "escape":
            self._leave()
        elif self.phase == "reading":
            return
        elif event.character is not None and event.character.isdigit() \
                and event.character.isascii():
            if self.typed < CODE_LENGTH:
                self._code.append(ord(event.character))
                self._say("")
            self._show_mask()
        elif event.key == "backspace" and self._code:
            self._code[-1] = 0
            del self._code[-1]
            self._show_mask()
        elif event.key == "enter":
            self._submit()

    def _submit(self) -> None:
        if self.typed != CODE_LENGTH:
            self._say(self.t("fallback.too_short", n=self.typed), error=True)
            return
        if self.tries_state == "blocked" or self.tries_left == 0:
            self._say(self.t("fallback.outcomes.blocked"), error=True)
            return
        last = self._at_last_try()
        if last:
            def answered(confirmed: bool | None) -> None:
                if confirmed is None:  # the card left: this screen is told next
                    wipe(self._code)
                    return
                self.counter.record_action(
                    "collation_b_last_try_" + ("confirmed" if confirmed else "declined"),
                    ",".join(last))
                if confirmed:
                    # Only the counters the clerk saw named are confirmed, each by name.
                    self._start_check(confirm_last_try=frozenset(last))
                else:
                    wipe(self._code)
                    self._show_mask()

            self.app.push_screen(LastTryScreen(pin=COLLATION_B, counters=last),
                                 callback=answered)
            return
        self._start_check(confirm_last_try=frozenset())

    def _start_check(self, *, confirm_last_try: frozenset[str]) -> None:
        secret = bytearray(self._code)
        wipe(self._code)
        self.phase = "reading"
        self._show_mask()
        self._say(self.t("fallback.reading"))
        self._check(secret, confirm_last_try)

    @work(thread=True, exclusive=True, group="fallback-card", exit_on_error=False)
    def _check(self, secret: bytearray, confirm_last_try: frozenset[str]) -> None:
        """Card worker: the identity check (the service wipes ``secret``)."""
        try:
            view = self.counter.services.identity_check(secret, confirm_last_try=confirm_last_try)
        except MadoguchiError:
            view = IdentityView("error", detail="other")
        finally:
            wipe(secret)
        self.post_message(IdentityChecked(view))

    @work(thread=True, exclusive=True, group="fallback-tries", exit_on_error=False)
    def _read_tries(self) -> None:
        """Card worker: the tries left of both 照合番号B counters, read without spending one."""
        statuses: dict[str, PinView | None] = {}
        for counter in COLLATION_B_COUNTERS:
            try:
                statuses[counter] = self.counter.services.pin_status(counter)
            except MadoguchiError:
                statuses[counter] = None
        self.post_message(CollationTriesRead(statuses))

    def on_collation_tries_read(self, message: CollationTriesRead) -> None:
        self.counters = message.statuses
        views = [view for view in message.statuses.values() if view is not None]
        if not views:
            self.tries_state = "unknown"
        else:
            left = self._counters_left()
            self.tries_left = min(left) if left else None
            states = {view.state for view in views}
            # The worst state of the two: one entry spends a try of each.
            self.tries_state = next(
                (state for state in ("blocked", "unusable", "last_try") if state in states),
                views[0].state,
            )
        self._show_tries()

    def on_identity_checked(self, message: IdentityChecked) -> None:
        view = message.view
        # The outcome only: never the code, never the chip's data.
        self.counter.record_action("collation_b_check", view.outcome)
        if view.outcome == "read":
            # Which checks did not pass and why: codes only, no personal data.
            self.counter.record_action("chip_checks", ",".join(
                f"{name}={reason}" for name, ok, reason in view.checks if ok is not True
            ) or "verified")
            self.view = view
            # The birth date read here, for the advice of this transaction's new PINs
            # (issue 17): in memory only, dropped when the transaction ends.
            self.counter.birth_date_forms.hold(
                self.session, (view.birth_date, view.face_birth_date))
            self.phase = "compare"
            self._say("")
            self.populate()  # the compare widgets, shown and focused before the next key
            return
        self.phase = "entry"
        if view.remaining is not None:
            self.tries_left = view.remaining
            self.tries_state = "blocked" if view.remaining == 0 else None
        remaining = "?" if view.remaining is None else str(view.remaining)
        kind = f"fallback.errors.{view.detail}"
        detail = self.t(kind if self.t.has(kind) else "fallback.errors.other")
        self._say(self.t(f"fallback.outcomes.{view.outcome}", remaining=remaining,
                         detail=detail), error=True)
        self._show_tries()
        self._read_tries()  # each counter again: the entry may have spent one and not the other

    # -- recording ------------------------------------------------------------------------

    @on(TickList.Confirmed, "#fallback-items")
    def _ticks_confirmed(self) -> None:
        # Enter confirms the ticks (never un-ticks one); the record button, now focused,
        # records them with one more Enter, so a habitual Enter cannot record a mismatch.
        self.query_one("#fallback-record", Button).focus()

    @on(Button.Pressed, ".fallback-record")
    def _record_comparison(self) -> None:
        view = self.view
        if view is None:
            return
        ticked = set(self.query_one("#fallback-items", TickList).selected)
        # A chip that is not shown genuine cannot vouch for anything printed on the card:
        # a failed signature (偽造カードの疑い) and a check that could not be made (a
        # CV certificate missing or malformed, an issuer not configured, a file absent)
        # alike record no match (issue 14).
        match = ticked >= set(COMPARED) and view.genuine is True
        # A failed chip signature is recorded as its own fact: the outcome gives it as
        # the reason (偽造カードの疑い) and the synced record carries the flag.
        if self._record(CHIP_MATCH_STEP, match, counterfeit=view.genuine is False):
            self.notify(self.t("fallback.match_recorded" if match
                               else "fallback.mismatch_recorded"),
                        severity="information" if match else "warning")
            self._next()

    @on(OptionList.OptionSelected, ".fallback-declare")
    def _declared(self, event: OptionList.OptionSelected) -> None:
        step = self.session.next_step()
        if step is not None and step.key.endswith(DECLARATION_STEPS) \
                and self._record(DECLARATION_STEPS, event.option.id):
            self._next()

    def _record(self, ending: str | tuple[str, ...], value: Any, *,
                counterfeit: bool = False) -> bool:
        step = self.session.next_step()
        if step is None or not step.key.endswith(ending):
            return False
        facts = {step.key: value}
        if counterfeit:
            facts[step.key.removesuffix(CHIP_MATCH_STEP) + COUNTERFEIT_STEP] = True
        try:
            self.session.record_many(facts)
        except RuleError as exc:
            self._say(str(exc), error=True)  # nothing recorded before is lost
            return False
        self.counter.record_action("step_recorded", step.key)
        return True

    def _next(self) -> None:
        step = self.session.next_step()
        if step is not None and step.key.endswith(DECLARATION_STEPS):
            self.phase = "declare"
            self._say("")
            self.populate()
            return
        self.dismiss(True)

    def card_removed(self) -> bool:
        """The card left: abandon the chip step, wipe the code and the chip's data.

        Up to the comparison nothing is recorded and the checklist asks the chip
        match again; once it is recorded only the declaration is left, which does
        not need the card, so the screen stays.
        """
        if self.phase == "declare":
            return False
        self.counter.record_action("collation_b_check", "card_removed")
        wipe(self._code)
        self._drop_photo()
        self.view = None  # the chip's personal data leaves the screen with the card
        self.dismiss(False)
        return True

    def _leave(self) -> None:
        wipe(self._code)
        self._drop_photo()
        self.dismiss(self.phase == "declare")

    def on_unmount(self) -> None:
        wipe(self._code)
        self._drop_photo()
