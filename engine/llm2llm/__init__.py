"""LLM2LLM: iterative, error-driven teacher augmentation (Lee et al. 2024, arXiv:2403.15042).

Per iteration: fine-tune the student from its base weights on seeds + accepted synthetic data,
evaluate it greedily, collect the *seed* examples it got wrong (`loop.select_seed_failures`), ask a
teacher for a new example like each one, filter the replies, add the survivors, repeat.

Modules: `tasks` (prompt template + answer checker, dataset loaders), `teacher` (teacher prompt,
local or OpenAI-compatible backends, reply parsers), `filters` (rejection rules), `augment` (the
teacher stage with bounded retries), `student` (fine-tune + greedy eval), `loop` (the resumable
iteration loop), `records` (status report, export), `cli` (`python -m engine llm2llm`).
Every record lives in DuckDB through `engine.storage.llm2llm`.
"""
