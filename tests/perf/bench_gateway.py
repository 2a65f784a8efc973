"""Benchmark: the gateway's cost, side by side with talking to llama-server directly.

- streaming generation tokens/s through the gateway vs. direct (target >= 0.97)
- time to first token added by the gateway (target < 5 ms median)
- share of prompt tokens served from the engine's cache on turns 2-10 of a conversation
  (target >= 90%)

    .venv/bin/python tests/perf/bench_gateway.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.catalog.catalog import load_catalog  # noqa: E402
from app.core.paths import default_paths  # noqa: E402
from app.core.settings import RoostSettings  # noqa: E402
from app.gateway.app import create_app  # noqa: E402
from app.gateway.records import RequestLog  # noqa: E402
from app.gateway.server import GatewayServer  # noqa: E402
from app.gateway.state import ExportConfig, GatewayState  # noqa: E402
from app.hardware.detect import detect_hardware  # noqa: E402
from app.runtime.engine_install import find_llama_server  # noqa: E402
from app.runtime.service import build_pool, model_listing  # noqa: E402
from engines.base import free_port  # noqa: E402
from engines.llamacpp.driver import LlamaCppDriver  # noqa: E402

MODEL = "gemma-3-270m"
PROMPT = "Explain, step by step, how a hash map handles collisions."


def stream_once(client: httpx.Client, url: str, max_tokens: int = 128) -> tuple[float, float]:
    """(seconds to first content token, content tokens/s after the first) for one stream."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
    }
    start = time.perf_counter()
    first = last = 0.0
    n = 0
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                now = time.perf_counter()
                if n == 0:
                    first = now
                last = now
                n += 1
    return first - start, (n - 1) / (last - first) if n > 1 else 0.0


AGENT_SYSTEM = (
    "You are a coding agent working in a repository. Tools: read_file(path) returns a file; "
    "write_file(path, content) replaces it; run(command) runs a shell command and returns its "
    "output; search(pattern) greps the tree. Think, then call one tool per turn. "
) * 30  # ~1,800 tokens: a small slice of the 15-25k-token prompts coding agents send


def conversation_cache_share(client: httpx.Client, url: str, turns: int = 10) -> float:
    """Share of prompt tokens served from the engine's cache on turns 2..turns."""
    messages = [{"role": "system", "content": AGENT_SYSTEM}]
    prompt_total = cached_total = 0
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Step {turn + 1}: what should we do next?"})
        r = client.post(
            f"{url}/v1/chat/completions",
            json={"model": MODEL, "messages": messages, "max_tokens": 24, "temperature": 0},
        )
        r.raise_for_status()
        data = r.json()
        messages.append({"role": "assistant", "content": data["choices"][0]["message"]["content"]})
        if turn >= 1:
            usage = data["usage"]
            prompt_total += usage["prompt_tokens"]
            cached_total += usage.get("prompt_tokens_details", {}).get("cached_tokens", 0)
    return cached_total / prompt_total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    paths = default_paths()
    settings = RoostSettings()
    catalog = load_catalog()
    driver = LlamaCppDriver(find_llama_server(None, paths.engine_cache_dir))
    pool = build_pool(paths, settings, detect_hardware(), driver, catalog)
    state = GatewayState(
        pool, model_listing(catalog, paths.models_dir), RequestLog(), ExportConfig()
    )
    server = GatewayServer(create_app(state), "127.0.0.1", free_port())
    server.start()
    try:
        engine = pool.acquire(MODEL).base_url
        pool.release(MODEL)
        with httpx.Client(timeout=300) as client:
            for url in (engine, server.url):  # warm-up
                stream_once(client, url, 16)
            direct_ttft, gw_ttft, direct_tps, gw_tps = [], [], [], []
            for _ in range(args.rounds):
                t, s = stream_once(client, engine)
                direct_ttft.append(t)
                direct_tps.append(s)
                t, s = stream_once(client, server.url)
                gw_ttft.append(t)
                gw_tps.append(s)
            share_direct = conversation_cache_share(client, engine)
            share = conversation_cache_share(client, server.url)
    finally:
        server.stop()
        pool.shutdown()
    med = statistics.median
    print(f"rounds: {args.rounds}, model {MODEL}, 128 streamed tokens per request, CPU")
    print(f"streaming tokens/s direct:  median {med(direct_tps):.1f}")
    print(f"streaming tokens/s gateway: median {med(gw_tps):.1f}")
    print(f"ratio gateway / direct: {med(gw_tps) / med(direct_tps):.3f}  (target >= 0.97)")
    added = [(g - d) * 1000 for g, d in zip(gw_ttft, direct_ttft, strict=True)]
    print(
        f"time to first token direct {med(direct_ttft) * 1000:.1f} ms, gateway "
        f"{med(gw_ttft) * 1000:.1f} ms: added median {med(added):.2f} ms (target < 5 ms)"
    )
    print(
        f"10-turn agent conversation (~1.8k-token system prompt), turns 2-10 prompt tokens from "
        f"cache: gateway {share:.1%}, direct {share_direct:.1%} (target >= 90%)"
    )


if __name__ == "__main__":
    main()
