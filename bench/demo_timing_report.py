"""Turns a timed `scripts/demo.sh` (bench/demo_timing.sh) into bench/results/demo_timing.md: each phase's
duration from the scripts' own headers (scripts/phases.sh), the totals, the machine and its load.
    python bench/demo_timing_report.py TIMES_ENV BENCH_DIR
"""
import os
import platform
import re
import sys
import time
from pathlib import Path

times = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if "=" in line)
times = {k: v.strip('"') for k, v in times.items()}
bench = Path(sys.argv[2])
split = "install_t1" in times


def seconds(span: str) -> int:
    m = re.fullmatch(r"(?:(\d+) min )?(\d+) s", span.strip())
    return int(m.group(1) or 0) * 60 + int(m.group(2))


def phases(log: Path) -> list[tuple[str, int]]:
    rows, title = [], None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("==> "):
            title = re.sub(r"\s+\[.*\]$", "", line[4:]).strip()
        elif line.strip().startswith("done in ") and title:
            rows.append((title, seconds(line.strip()[len("done in "):])))
            title = None
    return rows


def is_install(title: str) -> bool:
    return title.startswith(("Python environment", "Python packages"))


t = {k: float(v) for k, v in times.items() if k.endswith(("_t0", "_t1", "_t_up", "_t_checked"))}
demo_log = times.get("demo_log", "demo_timing.log")
demo_rows = phases(bench / demo_log)
copied = bool(times.get("venv_note"))  # `rerun`: the install was copied, not timed
after_install = t["demo_t_up"] - t["demo_t0"] - (0 if split else sum(s for n, s in demo_rows if is_install(n)))
install = t["install_t1"] - t["install_t0"] if split else sum(s for n, s in demo_rows if is_install(n))
total = install + after_install
cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
print(f"# Timed first run of `scripts/demo.sh` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t['demo_t0']))})\n")
if copied:
    print(f"Command: `bash bench/demo_timing.sh rerun` (commit {times.get('demo_commit')}): a fresh `git clone`, "
          f"{times['venv_note']}, an empty model cache (`SEEDBED_CACHE`) and a new workspace.  ")
else:
    print(f"Command: `bash bench/demo_timing.sh{' install` then `... demo' if split else ''}` (commit "
          f"{times.get('demo_commit')}): a fresh `git clone`, no `.venv`, `PIP_NO_CACHE_DIR=1` (packages from this "
          "machine's local package index), an empty model cache (`SEEDBED_CACHE`) and a new workspace.  ")
print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU; the cores were "
      "shared with other engineers' tests.  ")
if split:
    print(f"Measured in two parts on the same clone: the install (commit {times['install_commit']}, load average "
          f"{times['install_load_start']} -> {times['install_load_end']}), then `demo.sh` again in that clone moved "
          f"to commit {times['demo_commit']} (load average {times['demo_load_start']} -> {times['demo_load_end']}), "
          "whose setup phase finds the packages installed (pip re-checked them once: the install stamp's formula "
          "changed between the two commits; requirements.txt did not). The model cache and the workspace were "
          "empty for part 2.\n")
else:
    print(f"Load average (1/5/15 min) at start: {times['demo_load_start']}; at the end: {times['demo_load_end']}.\n")
if times.get("bundle_note"):
    print(f"Bundle: {times['bundle_note']}.\n")
print("| phase | seconds |\n|---|---:|")
install_rows = [(f"part 1, install: {n}", s) for n, s in phases(bench / "demo_timing_install.log")] if split else []
for name, secs in install_rows + [((f"part 2, demo.sh: {n}" if split else n), s) for n, s in demo_rows]:
    print(f"| {name} | {secs} |")
print(f"| dashboard answering (`/_stcore/health`) after the last phase | "
      f"{t['demo_t_up'] - t['demo_t0'] - sum(s for _, s in demo_rows):.0f} |")
if copied:  # no install in this run: no total either (never add figures of other runs)
    print(f"| **`demo.sh` -> dashboard up with the scored, mapped demo (install already there)** | "
          f"**{after_install:.0f}** |\n")
else:
    print(f"| **the package install (venv + pip)** | **{install:.0f}** |")
    print(f"| **after the install: `demo.sh` -> dashboard up with the scored, mapped demo** | **{after_install:.0f}** |")
    print(f"| **total** | **{total:.0f}** ({total / 60:.1f} min) |\n")
print(f"Check ({t['demo_t_checked'] - t['demo_t_up']:.0f} s after the dashboard answered; a headless AppTest of the "
      f"Home page on the same workspace): {times.get('demo_check')}\n")
print("One run: a fresh install cannot be repeated cheaply on a shared machine, so there is no spread; the "
      f"phases come from the scripts' own headers, the full output is in `bench/{demo_log}`.")
