"""A bare pyscard ``SCardTransmit`` loop: the baseline ``madoguchi bench card`` compares against.

It connects the way :class:`~drivers.transport.pcsc.PcscTransport` does (own context,
exclusive share, T=0|T=1) but sends APDUs straight from the calling thread with no
counting, logging, I/O thread or status-word handling, so the difference between the
two is what madoguchi's own stack costs per APDU. Benchmark use only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from smartcard import scard

from drivers.transport.pcsc import pcsc_error


def raw_transmit_runs(
    reader_name: str, apdus: Sequence[bytes], runs: int
) -> list[tuple[float, list[int]]]:
    """Send ``apdus`` in order ``runs`` times over one connection.

    Returns, per run, the wall seconds of the whole sequence and the status words
    (so the caller can check the replay was answered as expected).
    """
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise pcsc_error(hresult, "opening the PC/SC service")
    try:
        deadline = time.monotonic() + 2.0
        while True:
            hresult, handle, protocol = scard.SCardConnect(
                context, reader_name, scard.SCARD_SHARE_EXCLUSIVE,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            # PcscTransport releases the card on its I/O thread, so right after its
            # close() the card can still be held for a moment.
            if hresult != scard.SCARD_E_SHARING_VIOLATION or time.monotonic() > deadline:
                break
            time.sleep(0.001)
        if hresult != scard.SCARD_S_SUCCESS:
            raise pcsc_error(hresult, f"connecting to {reader_name!r}")
        commands = [list(apdu) for apdu in apdus]
        results: list[tuple[float, list[int]]] = []
        try:
            for _ in range(runs):
                words: list[int] = []
                started = time.perf_counter()
                for command in commands:
                    hresult, response = scard.SCardTransmit(handle, protocol, command)
                    if hresult != scard.SCARD_S_SUCCESS:
                        raise pcsc_error(hresult, "exchanging with the card")
                    words.append((response[-2] << 8) | response[-1])
                results.append((time.perf_counter() - started, words))
        finally:
            scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
    finally:
        scard.SCardReleaseContext(context)
    return results
