"""Benchmark: decode speed of the engine as Roost launches it vs. `llama-server -m MODEL`.

Same binary, same model (the embedded Gemma 3 270M), same prompt, greedy, alternating runs in
one process so both see the same machine state. Also: time from `roost run` to the first
answer token on a warm cache (engine built, model assembled).

    .venv/bin/python tests/perf/bench_engine.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.catalog.catalog import load_catalog  # noqa: E402
from app.catalog.resolve import resolve_entry  # noqa: E402
from app.core.paths import default_paths  # noqa: E402
from app.hardware.detect import detect_hardware  # noqa: E402
from app.planner.types import PlanGoal  # noqa: E402
from app.runtime.engine_install import find_llama_server  # noqa: E402
from app.runtime.supervisor import Supervisor  # noqa: E402
from engines.base import free_port  # noqa: E402
from engines.llamacpp.driver import LlamaCppDriver  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
TOKENS = 256


def decode_tps(base_url: str, model: str) -> float:
    """Generation tokens/s as llama-server measured it for one greedy completion."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": TOKENS,
        "temperature": 0,
        "ignore_eos": True,
    }
    r = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=300)
    r.raise_for_status()
    return float(r.json()["timings"]["predicted_per_second"])


def wait_health(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


def time_to_first_token() -> float:
    """Seconds from starting `roost run --prompt` to the first answer character on stdout."""
    roost = Path(sys.executable).with_name("roost")
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(roost), "run", "--yes", "--once", "--prompt", "Hello!"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("> "):
            break
    first = float("nan")
    while ch := proc.stdout.read(1):
        if not ch.isspace():
            first = time.monotonic() - start
            break
    proc.stdout.read()
    proc.wait()
    return first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    paths = default_paths()
    hw = detect_hardware()
    server = find_llama_server(None, paths.engine_cache_dir)
    entry = load_catalog().embedded_model
    resolved = resolve_entry(entry, entry.variant(), paths.models_dir)
    assert resolved.path is not None
    sup = Supervisor(paths, hw, LlamaCppDriver(server))
    running = sup.start(resolved, PlanGoal())
    port = free_port()
    hand = subprocess.Popen(
        [str(server), "-m", str(resolved.path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_health(f"http://127.0.0.1:{port}")
        ours, theirs = [], []
        decode_tps(running.base_url, running.model_id)  # warm-up both
        decode_tps(f"http://127.0.0.1:{port}", "x")
        for _ in range(args.rounds):
            ours.append(decode_tps(running.base_url, running.model_id))
            theirs.append(decode_tps(f"http://127.0.0.1:{port}", "x"))
    finally:
        hand.terminate()
        hand.wait()
        sup.stop_all()
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"machine: {hw.cpu.model_name}, {os.cpu_count()} logical cores, no GPU used")
    print(f"model: {entry.id} ({resolved.path.stat().st_size / 2**20:.0f} MiB), {TOKENS} tokens")
    print(f"roost plan args: {' '.join(running.process.driver.command(running.process.spec)[3:])}")
    print(f"decode tokens/s, Roost launch:      median {o:.1f}  runs {[round(x, 1) for x in ours]}")
    print(
        f"decode tokens/s, llama-server -m:   median {t:.1f}  runs {[round(x, 1) for x in theirs]}"
    )
    print(f"ratio Roost / hand-launched: {o / t:.3f}")
    ttft = [time_to_first_token() for _ in range(3)]
    print(
        f"`roost run` to first token (warm): median {statistics.median(ttft):.2f} s  runs "
        f"{[round(x, 2) for x in ttft]}"
    )


if __name__ == "__main__":
    main()
