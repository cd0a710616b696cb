"""The card's birth date as PIN advice, held for one transaction in memory only (issue 17).

When a transaction read the chip's 券面事項 through 照合番号B (``tui.screens.fallback``),
the new-PIN entries of that same transaction (暗証番号の初期化・再設定's card step, an
issuance's new PINs) advise against a PIN equal to a form of the birth date
(:func:`device.pin_entry.advice.birth_date_forms`). The forms are card data, not a PIN,
but personal: they are kept here as ``bytearray``\\ s tied to the engine session that
read them, never logged, recorded or shown, and wiped when the transaction ends.
A transaction that read no birth date (identity by a photo ID, a PIN check, the
holder's PIN change) gets none: the advice then covers repeated digits and runs only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from device.pin_entry.advice import birth_date_forms


class BirthDateForms:
    """The birth-date forms of the one transaction that read them; empty otherwise."""

    def __init__(self) -> None:
        self._owner: object | None = None
        self._forms: list[bytearray] = []

    def __repr__(self) -> str:
        return f"BirthDateForms(held={self.held})"

    @property
    def held(self) -> bool:
        """Whether a transaction's forms are held (for tests and the transaction's end)."""
        return bool(self._forms)

    def hold(self, owner: object, iso_dates: Iterable[str]) -> None:
        """Keep the forms of ``iso_dates`` (the chip's, ISO) for ``owner``'s transaction.

        A date the chip did not give or that does not parse is skipped: no advice
        for it, nothing else changes.
        """
        self.drop()
        for iso in iso_dates:
            try:
                day = dt.date.fromisoformat(iso)
            except ValueError:
                continue
            for form in birth_date_forms(day):
                if form not in self._forms:
                    self._forms.append(bytearray(form))
        self._owner = owner

    def for_transaction(self, owner: object) -> tuple[bytearray, ...]:
        """The forms held for ``owner`` (the same buffers: wiped with them), else none."""
        if owner is None or owner is not self._owner:
            return ()
        return tuple(self._forms)

    def drop(self) -> None:
        """The transaction ended: overwrite and empty every form, forget the owner."""
        for form in self._forms:
            form[:] = bytes(len(form))
            form.clear()
        self._forms.clear()
        self._owner = None
