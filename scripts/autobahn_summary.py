#!/usr/bin/env python3
"""Summarise and judge a kosoku (Autobahn TestSuite) report.

Used by scripts/autobahn.sh; runs with the venv's python (the `expected`
subcommand needs the `kosoku` package, `check` needs only the stdlib).

    autobahn_summary.py expected [-i CASE]... [-x CASE]...
        Print, one per line, the case ids kosoku selects for these -i/-x
        options (same rules as kosoku 0.1.0's resolve_cases).

    autobahn_summary.py check --label LABEL --index DIR/index.json
                              [--expected-ids FILE] [--agent NAME]
                              [--allow-unimplemented PATTERN]...
        Print per-group (major case number) counts of each behavior and
        exit 1 if the run is not acceptable:
          * the report is missing/unreadable, or has zero cases;
          * (with --agent) no results for that agent;
          * (with --expected-ids) a selected case has no result, or an
            unexpected one is present;
          * a case's behavior is FAILED, NON-STRICT, ERROR or unknown;
          * a case's behavior is UNIMPLEMENTED outside the
            --allow-unimplemented patterns;
          * a case's behaviorClose is not OK/INFORMATIONAL (ignored for an
            allowed UNIMPLEMENTED case).
        OK and INFORMATIONAL behaviors are fine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter, defaultdict

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "ERROR"]
GOOD_BEHAVIORS = {"OK", "INFORMATIONAL"}
GOOD_CLOSE = {"OK", "INFORMATIONAL"}
MAX_LISTED = 60


def sort_key(case_id: str) -> list[int]:
    out = []
    for part in case_id.split("."):
        try:
            out.append(int(part))
        except ValueError:
            out.append(0)
    return out


def compile_glob(pattern: str) -> re.Pattern[str]:
    # kosoku/Autobahn semantics: '.' literal, '*' -> '.*', anchored at the
    # start only (so "1*" also matches 10.*, 12.*, 13.*).
    return re.compile("^" + pattern.replace(".", r"\.").replace("*", ".*"))


def expand(patterns: list[str], ids: list[str], require_match: bool) -> list[str]:
    out: list[str] = []
    for pat in patterns:
        if "*" in pat:
            glob = compile_glob(pat)
            hits = [i for i in ids if glob.match(i)]
            if require_match and not hits:
                sys.exit(f"no cases match pattern: {pat}")
            out.extend(hits)
        elif pat in ids:
            out.append(pat)
        elif require_match:
            sys.exit(f"no such case: {pat}")
    return out


def matches_any(case_id: str, patterns: list[str]) -> bool:
    for pat in patterns:
        if "*" in pat:
            if compile_glob(pat).match(case_id):
                return True
        elif pat == case_id:
            return True
    return False


def cmd_expected(args: argparse.Namespace) -> int:
    from kosoku.cases import CASES  # type: ignore[import-not-found]

    all_ids = list(CASES)
    ids = expand(args.include, all_ids, True) if args.include else all_ids
    if args.exclude:
        excluded = set(expand(args.exclude, ids, False))
        ids = [i for i in ids if i not in excluded]
    for case_id in sorted(set(ids), key=sort_key):
        print(case_id)
    return 0


def result_text(outdir: str, entry: dict) -> str:
    """The case's `result`/`resultClose` prose from its per-case report."""
    try:
        with open(os.path.join(outdir, entry["reportfile"])) as f:
            case = json.load(f)
    except Exception:
        return ""
    parts = [case.get("result") or ""]
    close = case.get("resultClose") or ""
    if close and close != parts[0]:
        parts.append("close: " + close)
    if case.get("remoteCloseCode") is not None:
        parts.append(f"peer close code {case['remoteCloseCode']}")
    return "; ".join(p for p in parts if p)


def cmd_check(args: argparse.Namespace) -> int:
    label = args.label
    print(f"\n=== {label} ===")
    try:
        with open(args.index) as f:
            index = json.load(f)
    except FileNotFoundError:
        print(f"FAIL: report {args.index} is missing")
        return 1
    except Exception as exc:  # noqa: BLE001
        print(f"FAIL: cannot read report {args.index}: {exc}")
        return 1
    if not isinstance(index, dict) or not index:
        print(f"FAIL: report {args.index} has no agents")
        return 1

    agents = list(index)
    if args.agent is not None:
        if args.agent not in index:
            print(f"FAIL: no results for agent {args.agent!r} (report has: {agents})")
            return 1
        agents = [args.agent]
        others = [a for a in index if a != args.agent]
        if others:
            print(f"note: ignoring results of other agents {others}")
    elif len(agents) > 1:
        print(f"note: report has several agents {agents}; counting all of them")

    cases: dict[str, dict] = {}
    for agent in agents:
        for case_id, entry in index[agent].items():
            cases[case_id] = entry
    print(f"agent(s): {', '.join(repr(a) for a in agents)}; {len(cases)} cases; report: {args.index}")

    failures: list[str] = []
    problems: list[tuple[str, str]] = []  # (case_id, why)

    if not cases:
        failures.append("zero cases in report")

    if args.expected_ids:
        with open(args.expected_ids) as f:
            expected = [line.strip() for line in f if line.strip()]
        if not expected:
            failures.append("expected case list is empty")
        missing = sorted(set(expected) - set(cases), key=sort_key)
        extra = sorted(set(cases) - set(expected), key=sort_key)
        if missing:
            failures.append(
                f"{len(missing)} of {len(expected)} selected cases have no result "
                f"(first: {', '.join(missing[:10])})"
            )
        if extra:
            failures.append(f"{len(extra)} unexpected cases in report (first: {', '.join(extra[:10])})")

    by_group: dict[str, Counter] = defaultdict(Counter)
    close_bad: Counter = Counter()
    durations: Counter = Counter()
    allowed_unimpl = 0
    for case_id in sorted(cases, key=sort_key):
        entry = cases[case_id]
        group = case_id.split(".")[0]
        beh = entry.get("behavior", "?")
        close = entry.get("behaviorClose", "?")
        by_group[group][beh] += 1
        durations[group] += int(entry.get("duration") or 0)
        allowed = beh == "UNIMPLEMENTED" and matches_any(case_id, args.allow_unimplemented)
        if allowed:
            allowed_unimpl += 1
            continue
        if close not in GOOD_CLOSE:
            close_bad[group] += 1
        if beh not in GOOD_BEHAVIORS or close not in GOOD_CLOSE:
            problems.append((case_id, f"behavior={beh} behaviorClose={close}"))

    # Per-group table.
    seen = [b for b in BEHAVIORS if any(c[b] for c in by_group.values())]
    extra_labels = sorted({b for c in by_group.values() for b in c} - set(BEHAVIORS))
    cols = seen + extra_labels
    header = f"{'group':>5} {'cases':>6} " + " ".join(f"{c:>{max(len(c), 4)}}" for c in cols)
    header += f" {'bad-close':>9} {'time(ms)':>9}"
    print(header)
    totals: Counter = Counter()
    for group in sorted(by_group, key=lambda g: sort_key(g)):
        counts = by_group[group]
        n = sum(counts.values())
        totals.update(counts)
        row = f"{group + '.*':>5} {n:>6} " + " ".join(
            f"{counts[c] or '-':>{max(len(c), 4)}}" for c in cols
        )
        row += f" {close_bad[group] or '-':>9} {durations[group]:>9}"
        print(row)
    row = f"{'all':>5} {sum(totals.values()):>6} " + " ".join(
        f"{totals[c] or '-':>{max(len(c), 4)}}" for c in cols
    )
    row += f" {sum(close_bad.values()) or '-':>9} {sum(durations.values()):>9}"
    print(row)
    if allowed_unimpl:
        print(f"({allowed_unimpl} UNIMPLEMENTED cases allowed by {' '.join(args.allow_unimplemented)})")

    if problems:
        outdir = os.path.dirname(args.index)
        failures.append(f"{len(problems)} cases not acceptable")
        print(f"\nnot acceptable ({len(problems)}):")
        for case_id, why in problems[:MAX_LISTED]:
            text = result_text(outdir, cases[case_id])
            print(f"  {case_id:<9} {why}" + (f" -- {text}" if text else ""))
        if len(problems) > MAX_LISTED:
            print(f"  ... and {len(problems) - MAX_LISTED} more (see {args.index})")

    if failures:
        for msg in failures:
            print(f"FAIL: {label}: {msg}")
        return 1
    print(f"PASS: {label}: {len(cases)} cases")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("expected", help="list the case ids kosoku selects")
    p.add_argument("-i", "--include", action="append", default=[])
    p.add_argument("-x", "--exclude", action="append", default=[])
    p.set_defaults(func=cmd_expected)

    p = sub.add_parser("check", help="summarise and judge an index.json")
    p.add_argument("--label", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--expected-ids")
    p.add_argument("--agent")
    p.add_argument("--allow-unimplemented", action="append", default=[])
    p.set_defaults(func=cmd_check)

    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
