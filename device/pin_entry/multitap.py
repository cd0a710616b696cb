"""Multi-tap on a numeric pad, as on a feature phone: 2 = ABC2 … 9 = WXYZ9.

Each group ends with the digit itself, because the JPKI signature password
needs both letters and digits. ``0`` and ``1`` carry no letters and are taken at
once.
"""

from __future__ import annotations

#: digit key -> the ASCII characters it cycles through
MULTITAP_GROUPS: dict[str, bytes] = {
    "0": b"0",
    "1": b"1",
    "2": b"ABC2",
    "3": b"DEF3",
    "4": b"GHI4",
    "5": b"JKL5",
    "6": b"MNO6",
    "7": b"PQRS7",
    "8": b"TUV8",
    "9": b"WXYZ9",
}
