#!/usr/bin/env python3
"""Turns the Google Benchmark JSON files in a directory into Markdown table rows
(`| benchmark | value |`) for the device-check report."""
import json
import pathlib
import sys


def fmt_time(ns: float) -> str:
    return f"{ns / 1e3:.3f} µs" if ns >= 1e3 else f"{ns:.1f} ns"


def main() -> int:
    directory = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    for path in sorted(directory.glob("cudanet_bench_*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"| {path.stem} | unreadable: {e} |")
            continue
        for b in data.get("benchmarks", []):
            if b.get("run_type") == "aggregate":
                continue
            if b.get("error_occurred"):
                print(f"| {b.get('name')} | skipped: {b.get('error_message', 'error')} |")
                continue
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}.get(b.get("time_unit", "ns"), 1)
            value = fmt_time(b.get("real_time", 0) * scale)
            if "bytes_per_second" in b:
                value += f", {b['bytes_per_second'] / 1e9:.2f} GB/s"
            print(f"| {b.get('name')} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
