"""Converts the packaged language models once (GGUF -> safetensors in the Seedbed cache), one line
per model with the time it took, so the first scoring run does not pay for it. Called by setup.sh."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from engine.errors import UserError  # noqa: E402
from engine.models import DEFAULT_JUDGE, DEFAULT_PERPLEXITY_LM, cache_dir, resolve_model  # noqa: E402

for alias in dict.fromkeys((DEFAULT_JUDGE, DEFAULT_PERPLEXITY_LM)):
    done = (cache_dir() / "models" / alias / "config.json").exists()
    t0 = time.perf_counter()
    try:
        path = resolve_model(alias)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    state = "already converted" if done else f"converted in {time.perf_counter() - t0:.0f} s"
    print(f"{alias}: {state} ({path})", flush=True)
