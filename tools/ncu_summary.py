#!/usr/bin/env python3
"""Nsight Compute's CSV (ncu --csv --page details --metrics ...) as Markdown tables.

  tools/ncu_summary.py NCU_OUTPUT [--title TEXT]
  tools/ncu_summary.py --print-metrics all|basic   (the lists to give ncu --metrics)

NCU_OUTPUT is what ncu printed: its `==PROF==` lines, the profiled program's own output, then the
CSV, one row per kernel launch and metric ("ID", ..., "Kernel Name", ..., "Block Size",
"Grid Size", ..., "Metric Name", "Metric Unit", "Metric Value"). Prints two tables: the kernels
grouped by name (launches, total time, share of the profiled time, time-weighted means of the
utilisation metrics), then every launch. Metrics that were not collected read "-". Numbers may
carry thousands separators ("53,261,312"); durations are converted to microseconds from the unit
ncu states. Exit status 1 when no launch could be read (the reason goes to standard error).
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import OrderedDict

from kernel_resources import short  # the same kernel names as the ptxas table

# The metrics the device check asks ncu for (tools/device_check.sh takes the lists from
# --print-metrics), in the columns' order. "basic" ones are the fallback when this ncu does not
# know one of the others.
DURATION = "gpu__time_duration.sum"
COLUMNS = [  # (metric, column title, format, basic)
    ("sm__throughput.avg.pct_of_peak_sustained_elapsed", "SM %", "{:.0f}", True),
    ("gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed", "memory %", "{:.0f}",
     True),
    ("sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active", "FMA pipe %", "{:.0f}", False),
    ("sm__warps_active.avg.pct_of_peak_sustained_active", "warps active %", "{:.0f}", False),
    ("launch__registers_per_thread", "registers", "{:.0f}", True),
]
FFMA = "sm__sass_thread_inst_executed_op_ffma_pred_on.sum"  # FP32 FMAs: 2 FLOPs each
METRICS = {
    "all": [DURATION] + [c[0] for c in COLUMNS] + [FFMA],
    "basic": [DURATION] + [c[0] for c in COLUMNS if c[3]],
}
TO_MICROSECONDS = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3,
                   "ms": 1e3, "second": 1e6, "s": 1e6}


def number(text: str) -> float | None:
    text = text.strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def read_launches(text: str) -> list[dict]:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID",')), None)
    if start is None:
        raise ValueError("no CSV header (a line starting with \"ID\",) in ncu's output")
    launches: OrderedDict[str, dict] = OrderedDict()
    for row in csv.DictReader(line for line in lines[start:] if line.startswith('"')):
        lid = row.get("ID", "")
        if not lid or row.get("Metric Name") is None:
            continue
        launch = launches.setdefault(lid, {
            "name": row.get("Kernel Name", "?"), "block": row.get("Block Size", ""),
            "grid": row.get("Grid Size", ""), "metrics": {}})
        value = number(row.get("Metric Value", ""))
        if value is None:
            continue
        metric = row["Metric Name"]
        if metric == DURATION:
            scale = TO_MICROSECONDS.get(row.get("Metric Unit", "").strip(), None)
            if scale is None:
                continue
            value *= scale
        launch["metrics"][metric] = value
    return [l for l in launches.values() if DURATION in l["metrics"]]


def cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def gflops(launch_or_group: dict) -> float | None:
    ffma, us = launch_or_group["metrics"].get(FFMA), launch_or_group["metrics"].get(DURATION)
    return None if ffma is None or not us else 2 * ffma / (us * 1e3)


def summarise(launches: list[dict], title: str) -> str:
    total = sum(l["metrics"][DURATION] for l in launches)
    groups: OrderedDict[str, dict] = OrderedDict()
    for l in launches:
        g = groups.setdefault(short(l["name"]), {"launches": [], "metrics": {}})
        g["launches"].append(l)
    for g in groups.values():
        us = sum(l["metrics"][DURATION] for l in g["launches"])
        g["metrics"][DURATION] = us
        for metric, _, _, _ in COLUMNS:
            pairs = [(l["metrics"][metric], l["metrics"][DURATION]) for l in g["launches"]
                     if metric in l["metrics"]]
            if pairs and sum(w for _, w in pairs) > 0:
                g["metrics"][metric] = sum(v * w for v, w in pairs) / sum(w for _, w in pairs)
        ffma = [l["metrics"][FFMA] for l in g["launches"] if FFMA in l["metrics"]]
        if len(ffma) == len(g["launches"]):
            g["metrics"][FFMA] = sum(ffma)
    heads = [title for _, title, _, _ in COLUMNS]
    out = [f"### {title}", "",
           f"{len(launches)} kernel launches, {total / 1e3:.2f} ms in all (ncu serialises and "
           "replays each launch: these are per-kernel figures, not a timeline).", "",
           "| kernel | launches | time (ms) | share | " + " | ".join(heads) + " | GFLOP/s (FFMA) |",
           "|---|---:|---:|---:|" + "---:|" * len(heads) + "---:|"]
    for name, g in sorted(groups.items(), key=lambda kv: -kv[1]["metrics"][DURATION]):
        us = g["metrics"][DURATION]
        out.append(f"| `{name}` | {len(g['launches'])} | {us / 1e3:.3f} | "
                   f"{100 * us / total:.1f}% | "
                   + " | ".join(cell(g["metrics"].get(m), f) for m, _, f, _ in COLUMNS)
                   + f" | {cell(gflops(g), '{:.0f}')} |")
    out += ["", "<details><summary>Every launch</summary>", "",
            "| # | kernel | grid | block | time (us) | " + " | ".join(heads) + " |",
            "|---:|---|---|---|---:|" + "---:|" * len(heads)]
    for i, l in enumerate(launches):
        out.append(f"| {i} | `{short(l['name'])}` | {l['grid']} | {l['block']} | "
                   f"{l['metrics'][DURATION]:.1f} | "
                   + " | ".join(cell(l["metrics"].get(m), f) for m, _, f, _ in COLUMNS) + " |")
    out += ["", "</details>"]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ncu_output", nargs="?")
    parser.add_argument("--title", default="Nsight Compute")
    parser.add_argument("--print-metrics", choices=sorted(METRICS),
                        help="print the metrics to pass to ncu --metrics, and exit")
    args = parser.parse_args()
    if args.print_metrics:
        print(",".join(METRICS[args.print_metrics]))
        return 0
    if args.ncu_output is None:
        parser.error("NCU_OUTPUT is needed (or --print-metrics)")
    try:
        with open(args.ncu_output, errors="replace") as f:
            launches = read_launches(f.read())
    except (OSError, ValueError) as e:
        print(f"ncu_summary: {args.ncu_output}: {e}", file=sys.stderr)
        return 1
    if not launches:
        print(f"ncu_summary: {args.ncu_output}: no kernel launch with a duration", file=sys.stderr)
        return 1
    sys.stdout.write(summarise(launches, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
