"""Markdown for LLM2LLM experiment results (bench/gpu_llm2llm.py writes the JSON it reads)."""
from __future__ import annotations

import math

from engine.llm2llm.records import experiment_verdict as verdict, gain_notes


def _pm(mean, std, spec=".3f") -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    spread = "" if std is None or (isinstance(std, float) and math.isnan(std)) else f" ± {std:{spec}}"
    return f"{mean:{spec}}{spread}"


def markdown(result: dict) -> str:
    env = result["env"]
    s = env["settings"]
    lines = [f"# LLM2LLM experiments ({s['tag']})", "",
             f"{env['date']}, {env['device']} ({env['host']}), torch {env['versions']['torch']}, transformers "
             f"{env['versions']['transformers']}. Teacher `{s['teacher']}`, student `{s['student']}`, "
             f"{s['epochs']} epochs at lr {s['lr']}, label check `{s['label_check']}`, on-topic check "
             f"{'off' if s['no_topic_check'] else 'on'}, {s['workers']} worker processes. Model preparation "
             f"{result['prepare_s']} s, total {result.get('total_s', 0)} s. Load average (1/5/15 min) at the start "
             f"{env.get('load_start', '?')}, at the end {result.get('load_end', '?')}.", "",
             f"Command: `{env['command']}`", "",
             "Accuracy is the mean ± std over seeds of test accuracy; lift is the paired difference to `plain` "
             "(same seeds, same iteration-0 student) with its std. `plain` trains once, so its row repeats.", ""]
    for task, res in result["tasks"].items():
        lines += [f"## {task} ({res['test_rows']} test rows, status {res['status']}, wall {res['wall_s']} s)", "",
                  f"**Verdict:** {verdict(res['summary'])}", "",
                  *[f"- {'Gain' if level == 'success' else 'NO measured gain'}: {note}" for level, note in
                    gain_notes(res["summary"])], "",
                  "| seeds | arm | iteration | n | test acc | lift vs plain | accepted / run | train size | relabel judge acc on seeds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in res["summary"]:
            lines.append(f"| {r['seed_size']:g} | {r['arm']} | {r['iteration']} | {r['n']} | "
                         f"{_pm(r['acc_mean'], r['acc_std'])} | {_pm(r['lift_mean'], r['lift_std'], '+.3f')} | "
                         f"{_pm(r['accepted_mean'], None, '.1f')} | {_pm(r['train_size_mean'], None, '.1f')} | "
                         f"{_pm(r.get('judge_acc_mean'), None, '.2f')} |")
        stages = ", ".join(f"{k} {v['seconds']} s ({v['count']}×)" for k, v in sorted(res["stage_seconds"].items()))
        outcomes = {}
        for o in res["outcomes"]:
            outcomes.setdefault(o["arm"], []).append(f"{o['outcome']} {o['n']}")
        lines += ["", f"Stage seconds summed over runs (workers overlap): {stages}.", ""]
        lines += [f"Teacher candidates, {arm}: " + ", ".join(v) + "." for arm, v in outcomes.items()] + [""]
    return "\n".join(lines)
