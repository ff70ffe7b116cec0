#!/usr/bin/env python3
"""Summarises ctest JUnit reports: lists skipped tests with the reason each gave, then prints
the closing line `ctest: N passed, N failed, N skipped` over all of them. Tests of the second and
later reports are named with their build directory (`build-asan/...`). Exits 1 when a test failed
or none ran."""
import os
import re
import sys
import xml.etree.ElementTree as ET


def skip_reason(output: str) -> str:
    # GoogleTest prints "<file>:<line>: Skipped" followed by the message on the next line(s).
    m = re.search(r"Skipped\s*\n(.+)", output or "") or re.search(r"Skipped:\s*(.+)", output or "")
    return m.group(1).strip() if m else "skipped"


def main() -> int:
    if len(sys.argv) < 2:
        print("usage: ctest_summary.py RESULTS.xml [MORE_RESULTS.xml...]", file=sys.stderr)
        return 2
    cases = []
    for i, path in enumerate(sys.argv[1:]):
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            print(f"ctest_summary: cannot read {path}: {e}", file=sys.stderr)
            return 1
        prefix = "" if i == 0 else os.path.basename(os.path.dirname(os.path.abspath(path))) + "/"
        cases += [(prefix, case) for case in root.iter("testcase")]
    passed, failed, skipped = 0, [], []
    for prefix, case in cases:
        name = prefix + case.get("name", "?")
        status = case.get("status", "")
        if case.find("skipped") is not None or status == "notrun" and "Skipped" in (
                case.findtext("system-out") or ""):
            skipped.append((name, skip_reason(case.findtext("system-out") or "")))
        elif case.find("failure") is not None or case.find("error") is not None or status in (
                "fail", "failed"):
            failed.append(name)
        else:
            passed += 1
    if skipped:
        reasons = {}
        for name, why in skipped:
            reasons.setdefault(why, []).append(name)
        print(f"Skipped tests ({len(skipped)}):")
        for why, names in reasons.items():
            shown = ", ".join(names[:6]) + (f", ... ({len(names) - 6} more)" if len(names) > 6 else "")
            print(f"  {why}: {shown}")
    if failed:
        print(f"Failed tests ({len(failed)}): {', '.join(failed)}")
    print(f"ctest: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
    return 1 if failed or passed + len(skipped) == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
