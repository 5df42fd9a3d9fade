"""`python -m engine`: the CLI, with a last boundary so no traceback reaches the terminal (a bug
prints one line and where its traceback was logged, exit 1)."""
import sys

from engine.cli import main

try:
    code = main()
except Exception as exc:  # noqa: BLE001 (the outermost boundary: anything main() did not expect)
    from engine import failures
    from engine.terminal import say

    say(f"error: internal error ({type(exc).__name__}); {failures.report(exc, ' '.join(sys.argv))}", file=sys.stderr)
    code = 1
raise SystemExit(code)
