#!/usr/bin/env python3
"""What each hand-written CUDA kernel costs the SM, read from ptxas without a GPU.

Recompiles every .cu file of a CUDA build (its compile_commands.json) with `-Xptxas=-v` for the
build's architectures and writes a Markdown table, one row per kernel and architecture:
registers per thread, static shared memory, stack frame, spill stores and loads, and the warps
per SM that the register count allows (Hopper and Ampere: 64K registers per SM, allocated per
warp in units of 256, at most 64 warps per SM; register-limited occupancy is that over 64).
Block size and dynamic shared memory are chosen at launch, so this is an upper bound; Nsight
Compute's occupancy section gives the achieved figure on a GPU.

  tools/kernel_resources.py BUILD_DIR [-o report.md] [--check] [-j N]

--check exits 1 when a kernel spills registers or uses a stack frame (local memory): both put
per-thread data in DRAM-backed memory, a performance bug in the kernels cudanet writes.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
REGISTERS_PER_SM = 65536
REGISTER_ALLOCATION_UNIT = 256  # registers, per warp
MAX_WARPS_PER_SM = 64

ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+a?)'")
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
USED = re.compile(r"Used (\d+) registers")
SMEM = re.compile(r"(\d+) bytes smem")


def warps_by_registers(registers: int) -> int:
    per_warp = -(-registers * 32 // REGISTER_ALLOCATION_UNIT) * REGISTER_ALLOCATION_UNIT
    return min(MAX_WARPS_PER_SM, REGISTERS_PER_SM // max(per_warp, 1))


def ptxas_command(entry: dict, out_dir: str, source: str) -> list[str]:
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    # Through ccache when there is one: it keeps ptxas's report with the object file.
    if os.path.basename(args[0]) != "ccache" and shutil.which("ccache"):
        args = [shutil.which("ccache")] + args
    if "-o" in args:
        i = args.index("-o")
        args[i + 1] = os.path.join(out_dir, source.replace(os.sep, "_") + ".o")  # one per file
    return args + ["-Xptxas=-v"]


def parse(text: str, source: str) -> list[dict]:
    kernels, current = [], None
    for line in text.splitlines():
        if m := ENTRY.search(line):
            current = {"source": source, "mangled": m.group(1), "arch": m.group(2)}
            kernels.append(current)
        elif current is not None and (m := FRAME.search(line)):
            current["stack"], current["spill_stores"], current["spill_loads"] = map(
                int, m.groups())
        elif current is not None and (m := USED.search(line)):
            current["registers"] = int(m.group(1))
            s = SMEM.search(line)
            current["smem"] = int(s.group(1)) if s else 0
    return [k for k in kernels if "registers" in k]


def compile_one(entry: dict, out_dir: str) -> tuple[list[dict], str]:
    source = os.path.relpath(entry["file"], ROOT)
    result = subprocess.run(ptxas_command(entry, out_dir, source), cwd=entry["directory"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return [], f"{source}: compile failed:\n{result.stderr[-2000:]}"
    return parse(result.stdout + result.stderr, source), ""


def demangle(names: list[str]) -> dict[str, str]:
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True,
                             check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return {n: n for n in names}
    return dict(zip(names, out))


def short(name: str) -> str:
    """`void ns::(anonymous namespace)::f<float, ns::Cfg<4>>(float const*, int)` -> `f<float, Cfg<4>>`
    (also used by tools/ncu_summary.py)."""
    if name.endswith(")"):  # drop the parameter list: the last top-level parenthesised group
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                name = name[:i]
                break
    if name.startswith("void "):
        name = name[5:]
    depth, cut = 0, 0
    for i, c in enumerate(name):  # the last `::` outside brackets
        depth += c in "<("
        depth -= c in ">)"
        if depth == 0 and name.startswith("::", i):
            cut = i + 2
    return re.sub(r"\w+::", "", name[cut:])  # and the namespaces inside template arguments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build_dir")
    parser.add_argument("-o", "--output", help="Markdown report (default: standard output)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a kernel spills or uses a stack frame")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    database = os.path.join(args.build_dir, "compile_commands.json")
    if not os.path.isfile(database):
        print(f"kernel_resources: {database} not found (configure a CUDA build with CMake first)",
              file=sys.stderr)
        return 2
    with open(database) as f:
        entries = [e for e in json.load(f) if e["file"].endswith(".cu")]
    if not entries:
        print(f"kernel_resources: no .cu files in {database}: not a CUDA build "
              "(an emulated build compiles no device code)", file=sys.stderr)
        return 2
    kernels, errors = [], []
    with tempfile.TemporaryDirectory() as out_dir, \
            concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for found, error in pool.map(lambda e: compile_one(e, out_dir), entries):
            kernels += found
            if error:
                errors.append(error)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 2

    names = demangle(sorted({k["mangled"] for k in kernels}))
    kernels.sort(key=lambda k: (k["source"], short(names[k["mangled"]]), k["arch"]))
    lines = [
        "# Kernel resources (ptxas, no GPU needed)",
        "",
        f"`tools/kernel_resources.py {args.build_dir}`: {len(kernels)} kernels from "
        f"{len(entries)} .cu files. Warps/SM: what the register count allows (of "
        f"{MAX_WARPS_PER_SM}); block size and dynamic shared memory can lower it further.",
        "",
        "| source | kernel | arch | registers | static smem | stack | spills (st/ld) "
        "| warps/SM by registers |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    bad = []
    for k in kernels:
        spills = k["spill_stores"] + k["spill_loads"]
        if spills or k["stack"]:
            bad.append(k)
        lines.append(
            f"| {k['source']} | `{short(names[k['mangled']])}` | {k['arch']} | {k['registers']} "
            f"| {k['smem']} B | {k['stack']} B | {k['spill_stores']}/{k['spill_loads']} B "
            f"| {warps_by_registers(k['registers'])} |")
    lines += ["", f"Kernels that spill or use a stack frame: {len(bad)}."]
    for k in bad:
        lines.append(f"- `{names[k['mangled']]}` ({k['source']}, {k['arch']}): stack "
                     f"{k['stack']} B, spill stores {k['spill_stores']} B, loads "
                     f"{k['spill_loads']} B")
    report = "\n".join(lines) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(report)
        print(f"kernel_resources: {len(kernels)} kernels, {len(bad)} spilling or using a stack "
              f"frame; report in {args.output}")
    else:
        sys.stdout.write(report)
    return 1 if args.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
