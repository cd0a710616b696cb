"""PIN pad: key-to-event latency, driver CPU at rest, keys lost or doubled under bounce.

Three measurements on gpiozero's MockFactory with the keypad-matrix model:

* ``rest_cpu_percent``: CPU time of the keypad's scan thread (its own thread
  CPU clock) over ``--rest-seconds`` of wall time with no key touched.
* ``key_to_event_ms_p50/p99``: real threads and real time. A key is pressed
  with 1–5 ms of contact chatter; the latency runs from the first contact edge
  to the PIN-entry ``LENGTH_CHANGED`` event, through the scan thread, the
  debounce (``[keypad] debounce_ms``) and PIN entry. ``sleep_overshoot_ms_max``
  (how late a probe thread's 2 ms sleeps woke up meanwhile) is the same run's
  baseline: it tells a stalled machine from a slow pad.
* ``keys_lost/keys_doubled/keys_wrong``: ``--keys`` randomized keystrokes with
  chatter on press and release, through the same driver and matrix model but on
  a simulated clock (the scan loop is stepped exactly as its thread would step
  it), so ten thousand keystrokes take seconds rather than ten minutes. The
  real-time run also counts its own lost and doubled keys.

The rest measurement runs alongside the simulated typing (a separate pad on a
separate mock factory, whose thread sleeps on its edge event the whole time).
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import threading
import time
from typing import Any

from device.pin_entry import PinEntry, PinEntryEvent, PinEventKind, PinHandle, PinSpec
from drivers.keypad.events import KeyEvent
from madoguchi.config import KeypadConfig

#: a long digits-only PIN type, so the latency run never hits a length limit
BENCH_SPEC = PinSpec("bench", 1, 16)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", type=int, default=10_000, help="simulated keystrokes")
    parser.add_argument("--latency-keys", type=int, default=150, help="real-time keystrokes")
    parser.add_argument("--rest-seconds", type=float, default=10.0)
    parser.add_argument("--layout", default="4x3", choices=("4x3", "4x4"))
    parser.add_argument("--seed", type=int, default=20261125)


def _model_module() -> Any:
    # Loaded by name, as drivers.load_backend loads every hardware backend: gpiozero
    # (MockFactory) stays out of madoguchi's import graph, as the layering contract wants.
    return importlib.import_module("drivers.keypad.matrix_model")


def _build(layout: str, cfg: KeypadConfig, *, start: bool) -> tuple[Any, Any]:
    model, pad = _model_module().mock_keypad(
        layout,
        debounce_time=cfg.debounce_ms / 1000,
        scan_interval=cfg.scan_interval_ms / 1000,
        start=start,
    )
    pad.set_prompt_active(True)
    return model, pad


def _score(typed: list[str], windows: list[list[str]]) -> dict[str, int]:
    lost = doubled = wrong = 0
    for key, downs in zip(typed, windows, strict=True):
        lost += key not in downs
        doubled += max(0, downs.count(key) - 1)
        wrong += sum(1 for k in downs if k != key)
    return {"lost": lost, "doubled": doubled, "wrong": wrong}


class _SimulatedScanLoop:
    """Steps ``MatrixKeypad.poll`` on a fake clock the way its scan thread would."""

    def __init__(self, pad: Any) -> None:
        self.pad = pad
        self.now = 0.0
        self._next: float | None = None

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while True:
            if self.pad.woken and (self._next is None or self._next > self.now):
                self._next = self.now  # a column edge ends the thread's wait at once
            if self._next is None or self._next > target:
                self.now = target
                return
            self.now = self._next
            delay = self.pad.poll(self.now)
            self._next = None if delay is None else self.now + delay


def _simulated_typing(layout: str, cfg: KeypadConfig, keys: int, seed: int) -> dict[str, Any]:
    model, pad = _build(layout, cfg, start=False)
    downs: list[str] = []
    pad.add_listener(lambda e: downs.append(e.key) if e.pressed else None)
    loop = _SimulatedScanLoop(pad)
    rng = random.Random(seed)
    bounce_schedule = _model_module().bounce_schedule
    labels = pad.keys
    typed: list[str] = []
    windows: list[list[str]] = []
    started = time.perf_counter()
    try:
        for _ in range(keys):
            key = rng.choice(labels)
            typed.append(key)
            before = len(downs)
            for closed in (True, False):
                elapsed = 0.0
                for offset, state in bounce_schedule(closed, rng):
                    loop.advance(offset - elapsed)
                    elapsed = offset
                    model.set_switch(key, state)
                loop.advance(rng.uniform(0.02, 0.08))  # hold, then the gap to the next key
            windows.append(downs[before:])
    finally:
        pad.close()
    score = _score(typed, windows)
    return {
        "keys": keys,
        "lost": score["lost"],
        "doubled": score["doubled"],
        "wrong": score["wrong"],
        "ghost_scans": pad.ghost_scans,
        "shorts": model.shorts,
        "simulated_seconds": round(loop.now, 1),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def _rest_cpu(layout: str, cfg: KeypadConfig, seconds: float, done: threading.Event,
              out: dict[str, float]) -> None:
    _model, pad = _build(layout, cfg, start=True)
    try:
        clock = time.pthread_getcpuclockid(pad.scan_thread_id)
        cpu0, wall0 = time.clock_gettime(clock), time.monotonic()
        done.wait(seconds)
        cpu1, wall1 = time.clock_gettime(clock), time.monotonic()
        out["rest_cpu_percent"] = 100.0 * (cpu1 - cpu0) / (wall1 - wall0)
        out["rest_seconds"] = wall1 - wall0
        out["rest_scans"] = pad.scans
    finally:
        pad.close()


def _stall_probe(stop: threading.Event, out: list[float]) -> None:
    """Sleep 2 ms at a time and note how late each wake-up is."""
    while not stop.is_set():
        start = time.monotonic()
        time.sleep(0.002)
        out.append(time.monotonic() - start - 0.002)


def _realtime_latency(layout: str, cfg: KeypadConfig, keys: int, seed: int) -> dict[str, Any]:
    model, pad = _build(layout, cfg, start=True)
    rng = random.Random(seed + 1)
    arrived = threading.Event()
    arrivals: list[float] = []
    downs: list[str] = []

    def on_event(event: PinEntryEvent) -> None:
        if event.kind is PinEventKind.LENGTH_CHANGED and event.length:
            arrivals.append(time.monotonic())
            arrived.set()

    def on_key(event: KeyEvent) -> None:
        if event.pressed:
            downs.append(event.key)

    def discard(handle: PinHandle) -> None:
        handle.wipe()

    entry = PinEntry(BENCH_SPEC, on_event=on_event, on_complete=discard,
                     overall_timeout=3600, inter_key_timeout=3600, pad=pad)
    pad.add_listener(on_key)
    entry.start()
    digits = [k for k in pad.keys if k.isdigit()]
    stalls: list[float] = []
    stop_probe = threading.Event()
    probe = threading.Thread(target=_stall_probe, args=(stop_probe, stalls), daemon=True)
    probe.start()
    latencies: list[float] = []
    typed: list[str] = []
    windows: list[list[str]] = []
    try:
        for _ in range(keys):
            if entry.length >= BENCH_SPEC.max_length - 1:
                entry.clear()
            key = rng.choice(digits)
            typed.append(key)
            arrived.clear()
            before_events, before_downs = len(arrivals), len(downs)
            pressed_at = time.monotonic()
            model.chatter(key, True, rng)
            time.sleep(rng.uniform(0.025, 0.045))  # a short press
            model.chatter(key, False, rng)
            # a late event still counts, with its real latency; only a missing one is lost
            arrived.wait(1.0)
            time.sleep(rng.uniform(0.02, 0.035))
            if len(arrivals) > before_events:
                latencies.append(arrivals[before_events] - pressed_at)
            windows.append(downs[before_downs:])
    finally:
        stop_probe.set()
        probe.join()
        entry.cancel()
        pad.close()
    latencies.sort()
    score = _score(typed, windows)
    p99_index = min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))
    return {
        "key_to_event_ms_p50": round(1000 * statistics.median(latencies), 2) if latencies else None,
        "key_to_event_ms_p99": round(1000 * latencies[p99_index], 2) if latencies else None,
        "key_to_event_ms_max": round(1000 * latencies[-1], 2) if latencies else None,
        # baseline from the same run: how late a 2 ms sleep woke up (machine stalls)
        "sleep_overshoot_ms_max": round(1000 * max(stalls), 2) if stalls else None,
        "realtime_keys": keys,
        "realtime_keys_lost": score["lost"],
        "realtime_keys_doubled": score["doubled"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = KeypadConfig()
    started = time.monotonic()
    rest: dict[str, float] = {}
    done = threading.Event()
    rest_thread = threading.Thread(
        target=_rest_cpu, args=(args.layout, cfg, args.rest_seconds, done, rest), name="bench-rest"
    )
    rest_thread.start()
    sim = _simulated_typing(args.layout, cfg, args.keys, args.seed)
    rest_thread.join()
    latency = _realtime_latency(args.layout, cfg, args.latency_keys, args.seed)
    return {
        **latency,
        "rest_cpu_percent": round(rest["rest_cpu_percent"], 4),
        "rest_seconds": round(rest["rest_seconds"], 2),
        "rest_scans": rest["rest_scans"],
        "keys_lost": sim["lost"],
        "keys_doubled": sim["doubled"],
        "keys_wrong": sim["wrong"],
        "typing_run": sim,
        "debounce_ms": cfg.debounce_ms,
        "scan_interval_ms": cfg.scan_interval_ms,
        "layout": args.layout,
        "total_seconds": round(time.monotonic() - started, 1),
    }
