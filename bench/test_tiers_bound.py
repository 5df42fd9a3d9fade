"""An upper bound on the default test tier's time from a recorded full run: the full run's
session time minus the recorded durations (pytest --durations) of the tests the default tier
deselects (`slow`, `browser`, `ray`, found by collecting with that marker expression here).
Tests the log does not list are counted as kept, so the bound is high by their time.

    .venv/bin/python bench/test_tiers_bound.py [bench/results/ci_fresh_clone.log]
Writes bench/results/test_tiers_bound.md."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESELECTED = "slow or browser or ray"
RENAMED = {"test_runs.py": "test_jobs.py", "test_app_runs.py": "test_app_jobs.py"}  # logs older than issue 19


def recorded(log: str) -> tuple[float, dict[str, float]]:
    """(session seconds, {file basename::test: seconds summed over setup/call/teardown})."""
    session = float(re.findall(r" in ([\d.]+)s \(", log)[-1])
    durations: dict[str, float] = {}
    for seconds, node in re.findall(r"^([\d.]+)s (?:call|setup|teardown)\s+(\S+)", log, re.M):
        path, _, name = node.partition("::")
        key = f"{RENAMED.get(Path(path).name, Path(path).name)}::{name}"
        durations[key] = durations.get(key, 0.0) + float(seconds)
    return session, durations


def deselected() -> set[str]:
    """basename::test of every test the default tier leaves out, from a collection here."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-m", DESELECTED], cwd=ROOT, capture_output=True, text=True).stdout
    return {f"{Path(n.partition('::')[0]).name}::{n.partition('::')[2]}" for n in out.splitlines() if "::" in n}


def main() -> None:
    log_path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results" / "ci_fresh_clone.log"
    session, durations = recorded(log_path.read_text())
    out = deselected()
    dropped = {k: v for k, v in durations.items() if k in out}
    kept = {k: v for k, v in durations.items() if k not in out}
    bound = session - sum(dropped.values())
    lines = [f"# Default test tier: an upper bound from {log_path.relative_to(ROOT)}", "",
             f"Full run: {session:.0f} s of tests (its header gives the machine and load). The default tier "
             f"deselects `{DESELECTED}`; of the {len(durations)} tests whose durations the log lists, "
             f"{len(dropped)} are deselected ({sum(dropped.values()):.0f} s) and {len(kept)} kept "
             f"({sum(kept.values()):.0f} s).", "",
             f"**Default tier <= {bound:.0f} s ({bound / 60:.1f} min)** of tests on that machine and load "
             "(deselected tests the log does not list would lower it further), plus setup.", "",
             "| deselected test | s |", "|---|---:|",
             *[f"| {k} | {v:.1f} |" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1])],
             "", "| kept test (listed in the log) | s |", "|---|---:|",
             *[f"| {k} | {v:.1f} |" for k, v in sorted(kept.items(), key=lambda kv: -kv[1])]]
    target = ROOT / "bench" / "results" / "test_tiers_bound.md"
    target.write_text("\n".join(lines) + "\n")
    print(target.read_text())


if __name__ == "__main__":
    main()
