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
             f"{'off' if s['no_topic_check'] else 'on'}, {s['workers']} worker processes per task, "
             f"{s.get('noise_seeds', 0)} noise retrainings per cell. Model preparation "
             f"{result['prepare_s']} s, total {result.get('total_s', 0)} s. Load average (1/5/15 min) at the start "
             f"{env.get('load_start', '?')}, at the end {result.get('load_end', '?')}.", "",
             f"Command: `{env['command']}`", "",
             "Test accuracy is the mean ± std over seeds (cells), scored by label likelihood; `gen` is the same "
             "students scored by free generation (the metric before). Every iteration of a run trains with the "
             "same training seed, so the lift (paired difference to iteration 0 = `plain`, same cell) is the "
             "data's. Noise floor = 2 × max(σ·√(2/n), sd(lift)/√n), σ = the sd of test accuracy when a cell's "
             "seed set is retrained with other training seeds (pooled over cells); inside it: no measured gain.", ""]
    if result.get("missing"):
        lines += [f"**Not finished:** {', '.join(result['missing'])}.", ""]
    probe = result.get("determinism_probe")
    if probe:
        lines += [f"Same data, same training seed, trained twice on this device (TREC, 27 seeds, {probe['rows']} "
                  f"test rows): test accuracy {probe['test_acc'][0]:.3f} and {probe['test_acc'][1]:.3f}, "
                  f"{probe['answers_differing']} answers differ.", ""]
    for task, res in result["tasks"].items():
        lines += _task_lines(task, res)
    return "\n".join(lines)


def _task_lines(task: str, res: dict) -> list[str]:
    lines = [f"## {task} ({res['test_rows']} test rows per cell, status {res['status']}, wall {res['wall_s']} s)", "",
             f"**Verdict:** {verdict(res['summary'])}", "",
             *[f"- {'Gain' if level == 'success' else 'NO measured gain'}: {note}" for level, note in
               gain_notes(res["summary"])], ""]
    for n in res.get("noise", []):
        lines.append(f"- Noise at {n['seed_size']:g} seeds: σ = {_pm(n['noise_sd'], None)} over {n['trainings']} "
                     f"trainings in {n['cells']} cells; a paired design needs {n['seeds_for_0.03']} cells to detect "
                     f"+0.03 (α 0.05, power 0.8)" + (f", {n['seeds_for_0.03_observed_gain_sd']} at the observed sd "
                                                     "of the llm2llm gains" if n.get("seeds_for_0.03_observed_gain_sd")
                                                     else "") + ".")
    same = res.get("same_data_residual") or {}
    if same.get("iterations"):
        lines.append(f"- Iterations that added nothing: {same['iterations']}; |Δ test acc| vs the previous "
                     f"iteration max {same['max_abs_diff']:.3f}, mean {same['mean_abs_diff']:.3f}.")
    ready = res.get("readiness") or {}
    if ready.get("checks"):
        lines.append(f"- Teacher readiness ({ready['checks']} checks): labelled {ready['labelled_right']} of "
                     f"{ready['sampled']} sampled seeds right, {ready['parsed']} replies parsed, {ready['passed_all']} "
                     f"passed every filter; {ready['warned']} checks warned.")
    lines += ["", "| seeds | arm | iteration | n | test acc | gen acc | lift vs plain | noise floor | verdict | "
              "llm2llm − random | accepted / run | train size |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["summary"]:
        vs = _pm(r.get("vs_random_mean"), r.get("vs_random_sd"), "+.3f")
        vs += f" (floor {r['vs_random_floor']:.3f})" if vs and r.get("vs_random_floor") is not None else ""
        lines.append(f"| {r['seed_size']:g} | {r['arm']} | {r['iteration']} | {r['n']} | "
                     f"{_pm(r['acc_mean'], r['acc_std'])} | {_pm(r.get('acc_gen_mean'), None)} | "
                     f"{_pm(r['lift_mean'], r['lift_std'], '+.3f')} | {_pm(r.get('noise_floor'), None)} | "
                     f"{r.get('verdict') or ''} | {vs} | {_pm(r['accepted_mean'], None, '.1f')} | "
                     f"{_pm(r['train_size_mean'], None, '.1f')} |")
    stages = ", ".join(f"{k} {v['seconds']} s ({v['count']}×)" for k, v in sorted(res["stage_seconds"].items()))
    outcomes = {}
    for o in res["outcomes"]:
        outcomes.setdefault(o["arm"], []).append(f"{o['outcome']} {o['n']}")
    lines += ["", f"Stage seconds summed over runs (workers overlap): {stages}.", ""]
    return lines + [f"Teacher candidates, {arm}: " + ", ".join(v) + "." for arm, v in outcomes.items()] + [""]
