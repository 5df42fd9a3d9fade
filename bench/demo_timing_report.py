"""Turns the log of one timed `scripts/demo.sh` run (bench/demo_timing.sh) into bench/demo_timing.md:
each phase's duration from the script's own headers, the totals, the machine and its load."""
import os
import platform
import re
import sys
import time

log_path, t0, t_up, t_checked, commit, load_start, load_end, check = sys.argv[1:9]
t0, t_up, t_checked = float(t0), float(t_up), float(t_checked)
text = open(log_path, encoding="utf-8", errors="replace").read()


def seconds(span: str) -> int:
    m = re.fullmatch(r"(?:(\d+) min )?(\d+) s", span.strip())
    return int(m.group(1) or 0) * 60 + int(m.group(2))


rows, title = [], None
for line in text.splitlines():
    if line.startswith("==> "):
        title = re.sub(r"\s+\[.*\]$", "", line[4:]).strip()
    elif line.strip().startswith("done in ") and title:
        rows.append((title, seconds(line.strip()[len("done in "):])))
        title = None
install = sum(s for t, s in rows if t.startswith(("Python environment", "Python packages")))
total = t_up - t0
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# Timed first run of `scripts/demo.sh` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t0))})\n")
print(f"Command: `bash bench/demo_timing.sh` (commit {commit}): a fresh `git clone`, no `.venv`, an empty model "
      "cache (`SEEDBED_CACHE`), `PIP_NO_CACHE_DIR=1`; packages come from this machine's local package index.  ")
print(f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, no GPU.  ")
print(f"Load average (1/5/15 min) at start: {load_start}; at the end: {load_end} (the cores were shared "
      "with other work).\n")
print("| phase | seconds |\n|---|---:|")
for name, secs in rows:
    print(f"| {name} | {secs} |")
print(f"| dashboard answering (`/_stcore/health`), after the last phase | {total - sum(s for _, s in rows):.0f} |")
print(f"| **total: `demo.sh` started -> dashboard up with the scored, mapped demo** | **{total:.0f}** |")
print(f"| of which the package install (venv + pip) | {install} |")
print(f"| **after the install** | **{total - install:.0f}** |\n")
print(f"Check after start ({t_checked - t_up:.0f} s, headless AppTest of the Home page on the same workspace): "
      f"{check}\n")
print("One run (a fresh install cannot be repeated cheaply); phases come from the script's own headers "
      "(`scripts/phases.sh`), the full output is in `bench/demo_timing.log`.")
