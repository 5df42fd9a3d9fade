"""Peak memory of `python -m engine ingest` on hostile inputs, with the read limits
(engine/read_limits.py, defaults) and, as the baseline in the same run, with the limits raised out
of the way (what the code did before they existed). Writes bench/results/read_limits.json and .md.

Inputs, made here: a 199 KB .jsonl.gz holding one 200 MB line (a gzip bomb) and a ~39 MB CSV
with 10,000 columns. Peak RSS is the child's ru_maxrss from wait4 (the whole process, Python and
DuckDB included); each case runs REPEATS times and the table gives min-max.

    python bench/read_limits.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results"
UNLIMITED = {"SEEDBED_MAX_LINE_MB": "100000", "SEEDBED_MAX_COLUMNS": "1000000", "SEEDBED_MAX_EXPANSION": "1000000"}


def make_inputs(folder: Path) -> dict[str, Path]:
    bomb = folder / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(b'{"text": "')
        block = b"a" * (1 << 20)
        for _ in range(200):
            f.write(block)
        f.write(b'"}\n')
    wide = folder / "wide.csv"
    with open(wide, "w") as f:
        f.write(",".join(f"column_{i}" for i in range(9_999)) + ",text\n")
        row = ",".join(str(i % 10) for i in range(9_999))
        for r in range(1_950):
            f.write(f"{row},document {r}\n")
    return {"gzip bomb (one 200 MB line)": bomb, "CSV with 10,000 columns": wide}


def run(path: Path, folder: Path, env_extra: dict) -> dict:
    db = folder / f"ws-{time.monotonic_ns()}.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT), **env_extra}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "--db", str(db), "ingest", str(path), "--corpus", "x"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    lines = [line for line in (out + err).splitlines() if line.strip() and "it/s" not in line and "%|" not in line]
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "seconds": time.perf_counter() - t0,
            "exit_code": os.waitstatus_to_exitcode(status), "said": lines[-1][:300] if lines else ""}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "machine": platform.node(),
               "cpus": os.cpu_count(), "uptime_before": subprocess.run(["uptime"], capture_output=True,
                                                                       text=True).stdout.strip(),
               "limits": {"SEEDBED_MAX_LINE_MB": 16, "SEEDBED_MAX_COLUMNS": 1000, "SEEDBED_MAX_EXPANSION": 1000},
               "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, path in make_inputs(folder).items():
            for setting, env in (("limits (defaults)", {}), ("baseline: limits raised", UNLIMITED)):
                runs = [run(path, folder, env) for _ in range(args.repeats)]
                results["cases"].append({"input": name, "file_mb": path.stat().st_size / 2**20, "setting": setting,
                                         "runs": runs})
                print(name, setting, [round(r["peak_rss_mb"]) for r in runs], runs[-1]["said"], flush=True)
    results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    (OUT / "read_limits.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = ["| input | file | setting | peak RSS MB (min-max) | s (min-max) | exit | what ingest said |", "|---" * 7 + "|"]
    for case in results["cases"]:
        rss = [r["peak_rss_mb"] for r in case["runs"]]
        sec = [r["seconds"] for r in case["runs"]]
        rows.append(f"| {case['input']} | {case['file_mb']:.2f} MB | {case['setting']} | {min(rss):.0f}-{max(rss):.0f} | "
                    f"{min(sec):.1f}-{max(sec):.1f} | {case['runs'][-1]['exit_code']} | "
                    f"{case['runs'][-1]['said'].replace('|', '/')[:140]} |")
    (OUT / "read_limits.md").write_text(
        f"# Peak memory of `ingest` on hostile inputs\n\n{results['date']}, {results['machine']} ({results['cpus']} "
        f"CPUs, shared), {args.repeats} runs each.\nLoad before: `{results['uptime_before']}`; after: "
        f"`{results['uptime_after']}`.\nMade by `bench/read_limits.py`; raw numbers in `bench/results/read_limits.json`.\n\n"
        + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
