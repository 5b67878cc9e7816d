"""End-to-end check of the Dagster web UI as a person sees it: headless Chromium against `dagster dev`.

Materializes the dataset and its upstream, trains one model partition, lets the automation sensor follow it,
makes the model stale, and screenshots the README's pages into `artifacts/ui/` (the steps are described in
tests/support/ui.py, which `make test-ui` runs too). Takes several minutes; chromium is installed with apt-get
if missing.

    .venv/bin/python scripts/ui_check.py
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support
from tests.support.ui import MODEL_ASSET, MODEL_PARTITION, UiCheckError, run_ui_check  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """CLI entry: run the check, print where the artifacts are, exit non-zero on failure."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    try:
        result = run_ui_check()
    except UiCheckError as error:
        print(f"UI check failed: {error}", file=sys.stderr)
        return 1
    print(f"run {result.run_id}: {result.run_status} ({len(result.upstream_assets)} assets) {result.executor}")
    print(
        f"model run {result.model_run_id}: {result.model_run_status}; followed by "
        f"{result.followed_run_id}: {result.followed_run_status}; {MODEL_ASSET} {MODEL_PARTITION}: "
        f"{result.status_before}, then {result.stale_status} {result.stale_causes}"
    )
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items()))
    for stage, error in result.errors.items():
        print(f"UI check stage {stage} failed: {error}", file=sys.stderr)
    for page in result.pages.values():
        print(f"{page.name}: {page.png} ({page.png.stat().st_size} bytes) <- {page.url}")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
