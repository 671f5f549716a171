"""The real CLI with a fault injected: ``python -m tests.e2e.inject --config X run ...``.

For faults that no input can cause on purpose (a broken evaluator, a missing package), the
scenario runs the real daemon process with one seam replaced, chosen by environment variables:

- ``CM_INJECT_HIDE_MODULES=psycopg,...``: those imports fail as if the package were not
  installed (``sys.modules[name] = None`` is Python's documented way to block an import).
- ``CM_INJECT_EVALUATE_FAULT=<flag file>:<source>``: while the flag file exists, evaluating a
  release of that source raises RuntimeError (``Pipeline.evaluate_release``); deleting the file
  ends the fault, as fixing the cause would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HIDE = "CM_INJECT_HIDE_MODULES"
EVALUATE_FAULT = "CM_INJECT_EVALUATE_FAULT"


def install() -> None:
    for name in filter(None, os.environ.get(HIDE, "").split(",")):
        sys.modules[name.strip()] = None  # type: ignore[assignment]
    spec = os.environ.get(EVALUATE_FAULT)
    if spec:
        flag, source = spec.rsplit(":", 1)
        from monitor.pipeline import Pipeline

        original = Pipeline.evaluate_release

        def evaluate_release(self: Pipeline, release: Any, *args: Any, **kwargs: Any) -> Any:
            if release.source == source and Path(flag).exists():
                raise RuntimeError(f"injected evaluation fault (release {release.id})")
            return original(self, release, *args, **kwargs)

        Pipeline.evaluate_release = evaluate_release  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from monitor.cli import main

    sys.exit(main(sys.argv[1:]))
