"""Cross-check a plan with llama.cpp's own memory fit (``llama-fit-params``).

llama.cpp loads the model's metadata, reserves the compute graphs for the given arguments and
prints a memory breakdown per device without loading weights. Roost runs it with the plan's
arguments, reports the measured figures next to the analytic ones, and records both so the
advisor can show its own accuracy over time.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from app.planner.types import PlacementPlan

MIB = 1024**2
# "|   - Host               |                  821 =   222 +      84 +     514  |"
_ROW = re.compile(
    r"\|\s+-\s+(?P<dev>[^|]+?)\s+\|.*?(?P<self>\d+)\s+=\s+(?P<model>\d+)\s+\+\s+"
    r"(?P<ctx>\d+)\s+\+\s+(?P<compute>\d+)"
)


@dataclass(frozen=True)
class FitRow:
    """One device as llama.cpp measured it (bytes)."""

    device: str
    total: int
    model: int
    context: int
    compute: int


def fit_args(plan: PlacementPlan) -> list[str]:
    args = [
        "-c",
        str(plan.context),
        "-np",
        str(plan.parallel),
        "-ngl",
        str(plan.gpu_layers),
    ]
    if plan.n_cpu_moe:
        args += ["--n-cpu-moe", str(plan.n_cpu_moe)]
    if plan.kv_type != "f16":
        args += ["-ctk", plan.kv_type, "-ctv", plan.kv_type, "-fa", "on"]
    if plan.tensor_split:
        args += ["-ts", ",".join(f"{s:g}" for s in plan.tensor_split)]
    return args


def parse_breakdown(text: str) -> list[FitRow]:
    rows = []
    for line in text.splitlines():
        if "memory_breakdown" not in line:
            continue
        m = _ROW.search(line)
        if m:
            rows.append(
                FitRow(
                    m["dev"].strip(),
                    int(m["self"]) * MIB,
                    int(m["model"]) * MIB,
                    int(m["ctx"]) * MIB,
                    int(m["compute"]) * MIB,
                )
            )
    return rows


def measure_fit(fit_binary: Path, model: Path, plan: PlacementPlan) -> list[FitRow]:
    """llama.cpp's breakdown for ``plan``; every placement argument is set, so it only measures.

    Note: llama-fit-params reserves logits for a whole micro-batch, so its compute figure is an
    upper bound (Gemma 3 270M: 514 MiB vs 28 MiB allocated by llama-server for 4 slots).
    """
    cmd = [str(fit_binary), "-m", str(model), *fit_args(plan), "-lv", "4"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return parse_breakdown(done.stdout + done.stderr)


def record_fit(file: Path, plan: PlacementPlan, rows: list[FitRow]) -> None:
    """Append predicted vs. measured to a JSONL file (the advisor's accuracy record)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "time": time.time(),
        "model": plan.model_id,
        "context": plan.context,
        "gpu_layers": plan.gpu_layers,
        "predicted": {d.device: d.total_bytes for d in plan.devices},
        "measured": [asdict(r) for r in rows],
    }
    with file.open("a") as fh:
        fh.write(json.dumps(entry) + "\n")
