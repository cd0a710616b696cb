"""The card panel: whatever the reader and the card layer report about the card."""

from __future__ import annotations

from rich.console import Group
from textual.widgets import Static

from tui.i18n import Strings
from tui.services import CardStatus, Presence, ReaderState
from tui.text import JaText, kv_table


def card_lines(
    t: Strings, reader: ReaderState, status: CardStatus | None, *, reading: bool
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The panel's content: aligned ``(label, value)`` rows, warnings, and notes.

    Only fields the card layer filled in are shown; nothing is invented.
    """
    rows: list[tuple[str, str]] = [
        (t("home.reader"), reader.reader or t("common.none")),
        (t("home.card"), t(f"presence.{reader.presence.value}")),
    ]
    warnings: list[str] = []
    notes: list[str] = []
    if reader.presence is not Presence.PRESENT:
        if reader.presence is Presence.ABSENT:
            notes.append(t("card.place_card"))
        return rows, warnings, notes
    if reading or status is None:
        notes.append(t("card.reading"))
        return rows, warnings, notes
    if status.error:
        warnings.append(f"{t('card.error')}: {status.error}")
    if status.kind is not None:
        rows.append((t("card.kind"), _coded(t, "card.kinds", status.kind)))
    if status.token_name is not None:
        rows.append((t("card.token_type"), status.token_name))
    if status.expiry is not None:
        rows.append((t("card.expiry"), status.expiry))
    rows.extend(_pin_rows(t, status))
    if status.signature_checks:
        rows.append((
            t("card.signature"),
            "  ".join(
                t("card.signature_ok" if good else "card.signature_ng", name=name)
                for name, good in status.signature_checks.items()
            ),
        ))
    if status.atr_hex and status.kind in (None, "unknown"):
        # Only worth the lines when the card could not be recognised.
        rows.append((t("card.atr"), status.atr_hex))
    if status.counterfeit_warning:
        warnings.append(t("card.counterfeit"))
    warnings.extend(
        _coded(t, "card.conditions", code)
        for code in status.conditions
        if code != "counterfeit_suspect"
    )
    if status.uncertain:
        notes.append(t("card.uncertain", n=status.uncertain))
    notes.extend(t(f"card.notes.{note}") for note in status.notes)
    return rows, warnings, notes


def _pin_rows(t: Strings, status: CardStatus) -> list[tuple[str, str]]:
    """One row per PIN the card has: tries left, or why it cannot be tried."""
    rows: list[tuple[str, str]] = []
    for pin in status.pins:
        if pin.state == "absent":
            continue
        if pin.state in ("available", "last_try") and pin.remaining is not None:
            value = t("card.tries_count", tries=pin.remaining)
            if pin.state == "last_try":
                value += "  " + t("card.pin_states.last_try")
        else:
            value = _coded(t, "card.pin_states", pin.state)
        rows.append((_coded(t, "card.pins", pin.pin), value))
    return rows


def _coded(t: Strings, section: str, code: str) -> str:
    """The catalogue text for a code the card layer reported, or the code itself if new."""
    key = f"{section}.{code}"
    return t(key) if t.has(key) else code


class CardPanel(Static):
    """Reader and card facts, labels aligned in cells so kanji labels line up."""

    DEFAULT_CLASSES = "panel"

    def show(
        self, t: Strings, reader: ReaderState, status: CardStatus | None, *, reading: bool
    ) -> None:
        """Re-render for the given reader state and card status."""
        rows, warnings, notes = card_lines(t, reader, status, reading=reading)
        text = JaText()  # no line of its own for 「。」 at 80 columns
        for warning in warnings:
            text.append("\n" + warning, style="bold reverse")
        for note in notes:
            text.append("\n" + note)
        self.update(Group(kv_table(rows), text))
