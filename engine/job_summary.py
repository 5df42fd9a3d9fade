"""How a background job reads to a person: a picker label with its real status and duration, its
details as labelled fields (Ray settings only for jobs on Ray), and its log as plain lines
(tqdm's redraws, bars and terminal escapes turned into 'stage: done/total, rate, time left').
Pure functions over a job record (`engine.storage.jobs` columns); no Streamlit."""
from __future__ import annotations

import json
import re
from datetime import datetime

import pandas as pd

from engine.progress import format_seconds

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# tqdm: "desc:  16%|█▌   | 64/400 [13:15<1:09:34, 12.42s/doc]" (the bar between pipes may be empty)
_TQDM = re.compile(r"^(?P<desc>.*?):?\s+(?P<pct>\d+)%\|[^|]*\|\s*(?P<done>[\d.]+[kMG]?)/(?P<total>[\d.]+[kMG]?)"
                   r"\s*\[(?P<elapsed>[\d:]+)<(?P<left>[\d:?]+),\s*(?P<rate>[^\]]*)\]")
_STATUS_WORDS = {"queued": "queued", "running": "running", "done": "done", "failed": "failed",
                 "cancelled": "cancelled"}


def _value(rec, name):
    value = rec.get(name) if isinstance(rec, dict) else rec[name]
    return None if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)) else value


def _argv(rec) -> list[str]:
    argv = _value(rec, "argv") or []
    return json.loads(argv) if isinstance(argv, str) else list(argv)


def duration_s(rec, now: datetime | None = None) -> float | None:
    """Seconds from start to end (to `now` while it runs); None before it started."""
    started, ended = _value(rec, "started_at"), _value(rec, "ended_at")
    if started is None:
        return None
    end = ended if ended is not None else (now or datetime.utcnow())
    return max(0.0, (pd.Timestamp(end) - pd.Timestamp(started)).total_seconds())


def job_label(rec) -> str:
    """'20261129-101351 · score · done in 3 min 05 s', '... · running since 10:13:51 UTC': the real
    status and duration, stable while a job goes on (a picker's options should not tick)."""
    status, seconds = str(_value(rec, "status")), duration_s(rec)
    text = f"{_value(rec, 'id')} · {_value(rec, 'kind')} · {_STATUS_WORDS.get(status, status)}"
    if status == "running" and _value(rec, "started_at") is not None:
        return text + f" since {pd.Timestamp(_value(rec, 'started_at')).strftime('%H:%M:%S')} UTC"
    if seconds is not None:
        text += f" {'after' if status in ('failed', 'cancelled') else 'in'} {format_seconds(seconds)}"
    return text


def on_ray(rec) -> bool:
    argv = _argv(rec)
    return "--backend" in argv and argv[argv.index("--backend") + 1:][:1] == ["ray"]


def job_fields(rec, now: datetime | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs for a job's details panel, in reading order; Ray settings appear only
    for a job on Ray, the process only while it runs."""
    argv, status = _argv(rec), str(_value(rec, "status"))
    seconds = duration_s(rec, now)
    fields = [("Command", "python -m engine " + " ".join(argv)), ("Status", status),
              ("Duration", format_seconds(seconds) if seconds is not None else "not started"),
              ("Created", _when(_value(rec, "created_at"))), ("Started", _when(_value(rec, "started_at"))),
              ("Ended", _when(_value(rec, "ended_at"))), ("Device", str(_value(rec, "device") or "-")),
              ("Attempts", str(_value(rec, "attempts") or 0))]
    if status == "running" and _value(rec, "pid"):
        fields.append(("Process", f"pid {_value(rec, 'pid')} on {_value(rec, 'host')}"))
    if on_ray(rec):
        address = argv[argv.index("--address") + 1] if "--address" in argv else "a local Ray on this machine"
        actors = argv[argv.index("--ray-actors") + 1] if "--ray-actors" in argv else "one per GPU"
        fields += [("Ray cluster", address), ("Ray model replicas", actors)]
    params = _value(rec, "params")
    params = json.loads(params) if isinstance(params, str) else (params or {})
    fields += [(name.replace("_", " ").capitalize(), str(v)) for name, v in params.items()
               if v not in (None, "", [], {}) and name not in ("argv", "backend", "address", "ray_actors")]
    if _value(rec, "log_path"):
        fields.append(("Log file", str(_value(rec, "log_path"))))
    return fields


def _when(value) -> str:
    return "-" if value is None else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def clean_log(text: str) -> str:
    """A job's log as a person reads it: the last state of each carriage-return redraw, terminal
    escapes removed, tqdm bars as 'stage: done/total (pct%), rate, elapsed, left', and repeated
    updates of the same bar collapsed to the newest."""
    lines: list[str] = []
    for raw in _ANSI.sub("", text).split("\n"):
        for part in [p for p in raw.split("\r") if p.strip()][-1:]:
            line, bar = _plain_bar(part.rstrip())
            if bar and lines and lines[-1].startswith(bar + ": "):
                lines[-1] = line  # the same bar, a newer state
            else:
                lines.append(line)
    return "\n".join(lines)


def _plain_bar(line: str) -> tuple[str, str | None]:
    m = _TQDM.match(line.strip())
    if not m:
        return line, None
    desc = m["desc"].strip() or "progress"
    left = "" if "?" in m["left"] else f", {m['left']} left"
    return f"{desc}: {m['done']}/{m['total']} ({m['pct']}%), {m['rate'].strip()}, {m['elapsed']} elapsed{left}", desc


def default_job(frame) -> str | None:
    """The job a Jobs view opens on: the oldest running one (it is what the queue works on), else
    the oldest queued (the next to start), else the newest of all. `frame`: jobs newest first."""
    for status in ("running", "queued"):
        ids = frame.loc[frame["status"] == status, "id"].tolist()
        if ids:
            return ids[-1]
    return frame["id"].iloc[0] if len(frame) else None
