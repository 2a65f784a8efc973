"""Benchmark: advice for every catalog model on every hardware preset.

Measures, in one run: the planner alone (every model x every preset, in process), and the
`roost advise --hardware PRESET` command as a user runs it (a fresh process, Python start-up
included).

    .venv/bin/python tests/perf/bench_advise.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.catalog.catalog import load_catalog  # noqa: E402
from app.catalog.catalog_spec import spec_from_catalog  # noqa: E402
from app.hardware.presets import load_preset, preset_names  # noqa: E402
from app.planner.advise import advise  # noqa: E402
from app.planner.types import PlanGoal  # noqa: E402


def main() -> None:
    catalog = load_catalog()
    presets = [load_preset(n) for n in preset_names()]
    specs = [(m, spec_from_catalog(m)) for m in catalog.models]
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for hw in presets:
            for entry, spec in specs:
                advise(spec, hw, PlanGoal(target_context=entry.recommended_context))
        runs.append(time.perf_counter() - start)
    n = len(presets) * len(specs)
    best = min(runs)
    print(f"planner: {len(specs)} models x {len(presets)} presets = {n} plans")
    print(
        f"  all plans: median {statistics.median(runs) * 1000:.0f} ms, best {best * 1000:.0f} ms "
        f"({best / n * 1000:.2f} ms per plan)"
    )
    roost = Path(sys.executable).with_name("roost")
    walls = []
    for name in preset_names():
        start = time.perf_counter()
        subprocess.run([str(roost), "advise", "--hardware", name], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        walls.append(time.perf_counter() - start)
    print(
        f"`roost advise --hardware PRESET` (whole table, new process): median "
        f"{statistics.median(walls):.2f} s, max {max(walls):.2f} s over {len(walls)} presets"
    )


if __name__ == "__main__":
    main()
