"""``madoguchi rules``: the procedure engine for audit and training.

::

    madoguchi rules check CASE.json [--json] [--lang en]   # decide a documented case
    madoguchi rules explain 2-1-2 [--json]                 # the checklist of a procedure
    madoguchi rules list                                   # every procedure
    madoguchi rules daily-register RECORDS.jsonl           # old 交付記録簿 counts (optional)

``check`` prints the decision (continue / reject = 受付不可 / inquiry), every
reason with its citation in the guidelines, and the rule set (現行／改正後)
that decided it. The ``[rules]`` configuration section supplies the effective
date and the policies; a case file's own ``policies`` override them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from device.procedures import (
    PROCEDURES,
    Actor,
    Policies,
    amendments,
    evaluate_case,
    issuance_log,
    load_case,
    pin_reset,
    policies_from_config,
    procedure,
    steps_for,
    texts,
)
from device.records import TransactionRecord
from madoguchi.cli import config_from
from madoguchi.config import RulesConfig
from madoguchi.errors import ConfigError, RuleError


def register(sub: Any) -> None:
    """Add ``madoguchi rules`` and its verbs."""
    parser = sub.add_parser("rules", help="procedure engine: check case files, explain procedures")
    verbs = parser.add_subparsers(dest="rules_command", metavar="VERB", required=True)

    p = verbs.add_parser("check", help="decide a case file and print the cited reasons")
    p.add_argument("case", type=Path, help="case file (JSON, see docs/rules.md)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--lang", choices=texts.LANGUAGES, default=None, help="ja (default) or en")
    p.add_argument("--verify", action="store_true",
                   help="exit 1 unless the result matches the case file's expect object")
    p.set_defaults(func=_guarded(_check))

    p = verbs.add_parser("explain", help="print the checklist of a procedure")
    p.add_argument("procedure", help='procedure id, e.g. 2-1-2 or "第2-1-(2)"')
    p.add_argument("--actor", choices=[a.value for a in Actor], default=None,
                   help="for 4-3: who revokes (self, proxy, legal_representative)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--lang", choices=texts.LANGUAGES, default=None)
    p.set_defaults(func=_guarded(_explain))

    p = verbs.add_parser(
        "daily-register", help="old 交付記録簿 daily counts (CSV) from transaction records"
    )
    p.add_argument("records", type=Path, help="JSON lines, one TransactionRecord payload each")
    p.add_argument("--paid-jlis", type=int, default=None, metavar="YEN",
                   help="also reconcile fees against this amount paid to J-LIS")
    p.set_defaults(func=_guarded(_daily_register))

    p = verbs.add_parser("list", help="list every procedure")
    p.add_argument("--lang", choices=texts.LANGUAGES, default=None)
    p.set_defaults(func=_guarded(_list))


def _guarded(verb: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``verb`` with the failures a hostile or odd input causes turned into one line, exit 2.

    A reader that stops early (``| head``) closes the pipe: the rest of the output
    goes nowhere instead of ending in a BrokenPipeError traceback. Date arithmetic
    past 9999-12-31 and nesting past the interpreter's stack are refused with a
    sentence, not a traceback.
    """

    def run(args: argparse.Namespace) -> int:
        try:
            code = verb(args)
            # Flush here, inside the guard: output smaller than the buffer (whose size
            # follows the pipe's st_blksize, larger under emulation) would otherwise
            # meet the closed pipe only at interpreter exit, past this handler.
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            # Python's advice: point stdout at devnull so the exit flush cannot fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            print("madoguchi: the output was closed before it ended (broken pipe)",
                  file=sys.stderr)
            return 2
        except (OverflowError, RecursionError) as exc:
            what = "a date out of range" if isinstance(exc, OverflowError) else "nesting"
            raise RuleError(f"the case cannot be decided: {what} ({exc})") from None

    return run


def effective_date(rules: RulesConfig) -> date:
    """The configured 改正後 effective date."""
    try:
        return date.fromisoformat(rules.amended_effective_date)
    except ValueError:
        raise ConfigError(
            f"[rules] amended_effective_date {rules.amended_effective_date!r} is not YYYY-MM-DD"
        ) from None


def policies(rules: RulesConfig) -> Policies:
    """The policies of the ``[rules]`` section (a bad value is a configuration error)."""
    try:
        return policies_from_config(rules)
    except RuleError as exc:
        raise ConfigError(f"[rules] {exc}") from exc


def _language(args: argparse.Namespace) -> str:
    if args.lang:
        return str(args.lang)
    language = config_from(args).ui.language
    return language if language in texts.LANGUAGES else "ja"


def _check(args: argparse.Namespace) -> int:
    config = config_from(args)
    language = _language(args)
    case = load_case(args.case)
    result = evaluate_case(
        case, policies=policies(config.rules), effective_date=effective_date(config.rules)
    )
    if result.decision is None:
        raise RuleError(
            f"{args.case}: the case is incomplete: the rules need {result.pending!r} "
            f"({texts.step_text(result.pending or '', language)})"
        )
    out = result.to_dict(language)
    status = 0
    if args.verify:
        problems = _mismatches(case.expect, out)
        for problem in problems:
            print(f"madoguchi: {args.case}: {problem}", file=sys.stderr)
        status = 1 if problems else 0
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return status
    who = texts.value_label(case.actor.value, language)
    print(f"{case.info.citation} {case.info.title(language)} — {who}, {case.on}")
    label = texts.decision_label(out["decision"], language)
    print(
        f"{texts.label('decision', language)}: {out['decision']} ({label})   "
        f"{texts.label('rule_version', language)}: {out['rule_version']}"
    )
    for reason in out["reasons"]:
        print(f"  「{reason['citation']}」 {reason['text']}")
    for action in out["actions"]:
        print(f"  -> {action['kind']} {action['target']} 「{action['citation']}」")
    return status


def _mismatches(expect: dict[str, Any], out: dict[str, Any]) -> list[str]:
    """What differs between a case file's ``expect`` and the evaluation."""
    if not expect:
        return ["the case file has no expect object"]
    problems = []
    if "decision" in expect and expect["decision"] != out["decision"]:
        problems.append(f"expected decision {expect['decision']}, got {out['decision']}")
    findings = [f for f in out["findings"] if f["key"] == expect.get("key", f["key"])]
    if "key" in expect and not findings:
        problems.append(f"expected a finding {expect['key']!r}")
    if "citation" in expect and expect["citation"] not in {f["citation"] for f in findings}:
        problems.append(f"expected citation 「{expect['citation']}」")
    return problems


def _explain(args: argparse.Namespace) -> int:
    language = _language(args)
    info = procedure(args.procedure)
    steps: list[dict[str, Any]] = [
        {"step": s.key, "citation": s.citation, "records": s.value_type, "text": s.text(language),
         # A rule outside the guidelines names the public pages it follows (要領外).
         **({"sources": [dataclasses.asdict(src) for src in pin_reset.SOURCES[s.citation]]}
            if s.citation in pin_reset.SOURCES else {})}
        for s in steps_for(info, Actor(args.actor) if args.actor else None)
    ]
    changes = [
        {"number": a.number, "citation": a.citation, "summary": a.summary(language)}
        for a in amendments.for_procedure(info.id)
    ]
    if args.json:
        doc = {
            "procedure": info.id,
            "citation": info.citation,
            "title": info.title(language),
            "actors": [a.value for a in info.actors],
            "outside_guidelines": info.outside_guidelines,
            "steps": steps,
            "amendments": changes,
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    actors = ", ".join(a.value for a in info.actors) or "-"
    print(f"{info.citation} {info.title(language)}  ({texts.label('actors', language)}: {actors})")
    if info.outside_guidelines:
        print(texts.label("outside_guidelines", language))
    for number, item in enumerate(steps, 1):
        print(f"{number:2}. [ ] {item['text']}")
        print(f"       「{item['citation']}」  {item['step']} = {item['records']}")
        for source in item.get("sources", ()):
            print(f"       {texts.label('source', language)}: {source['publisher']}"
                  f"「{source['title']}」 {source['url']}")
    if changes:
        print(f"{texts.label('amendments', language)}:")
    for change in changes:
        print(f"  #{change['number']:<2} 「{change['citation']}」 {change['summary']}")
    return 0


def _read_records(path: Path) -> list[TransactionRecord]:
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RuleError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(TransactionRecord.from_payload(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise RuleError(f"{path}:{number}: not a transaction record: {exc}") from exc
    return records


def _daily_register(args: argparse.Namespace) -> int:
    records = _read_records(args.records)
    print(issuance_log.daily_register_csv(issuance_log.daily_register(records)), end="")
    if args.paid_jlis is not None:
        fees = issuance_log.reconcile(records, args.paid_jlis)
        print(
            f"# collected {fees.collected_yen} yen, payable to J-LIS {fees.payable_jlis_yen} yen, "
            f"paid {fees.paid_jlis_yen} yen, outstanding {fees.outstanding_yen} yen"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    language = _language(args)
    for info in PROCEDURES.values():
        print(f"{info.id:6} {info.citation:12} {info.title(language)}")
    return 0
