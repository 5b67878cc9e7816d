"""Screenshots for the README tour, taken from an instance that `make demo` filled (headless Chromium).

    .venv/bin/python scripts/tour_screenshots.py [--home dagster_home] [--data data] [--out docs/tour]
        [--pages tour|how_do_i|all] [--partition trigenic|split_query]

Starts `dagster dev` against that DAGSTER_HOME and data dir on a free 127.0.0.1 port (own process group,
stopped on exit), dismisses the first-run dialog, and captures the pages the README shows: the tour, and the
"How do I…" pages (`how_do_i_pages` in tests/support/ui.py; `--partition` is the model partition shown stale).
The UI check (`make test-ui`) captures the same "How do I…" pages from its own instance into artifacts/ui/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support
from tests.support.ui import (  # noqa: E402
    REPO,
    UiCheckError,
    capture_page,
    dagster_dev,
    ensure_chromium,
    free_port,
    graphql,
    how_do_i_pages,
)

PAGES = {
    "lineage": "/asset-groups",
    "model_benchmarks": "/assets/model_benchmarks",
    "mlp_model_digenic": "/assets/mlp_model?partition=digenic",
    "convergence_projections": "/assets/convergence_projections",
    "strain_design": "/assets/strain_design",
}


def main() -> int:
    """Capture the chosen pages into `--out`; exit 1 naming the failed step."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=REPO / "dagster_home")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "tour")
    parser.add_argument("--pages", choices=("tour", "how_do_i", "all"), default="all")
    parser.add_argument("--partition", default="trigenic|split_query", help="the model partition shown stale")
    args = parser.parse_args()
    pages = {
        **(PAGES if args.pages in ("tour", "all") else {}),
        **(how_do_i_pages(args.partition) if args.pages in ("how_do_i", "all") else {}),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        chromium = ensure_chromium()
        with dagster_dev(
            free_port(), args.out / "dagster_dev.log", home=args.home.resolve(), data=args.data.resolve()
        ) as base:
            graphql(base, "mutation { setNuxSeen }")
            for name, path in pages.items():
                page = capture_page(chromium, name, base + path, args.out)
                (args.out / f"{name}.html").unlink(missing_ok=True)
                print(f"{name}: {page.png} ({page.png.stat().st_size:,} bytes) <- {page.url}")
    except UiCheckError as error:
        print(f"tour screenshots failed: {error}", file=sys.stderr)
        return 1
    (args.out / "dagster_dev.log").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
