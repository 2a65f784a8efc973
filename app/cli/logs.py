"""``roost logs``: recent requests to the endpoint (model, tokens, cache, latency, status)."""

from __future__ import annotations

import argparse

import httpx

from app.cli._format import table
from app.core.paths import default_paths
from app.core.settings import load_settings
from app.gateway.records import read_log_file


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("logs", help="recent requests served by the endpoint")
    p.add_argument("-n", type=int, default=20)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = default_paths()
    settings = load_settings(paths.settings_file)
    try:
        url = f"http://127.0.0.1:{settings.gateway_port}/roost/requests?n={args.n}"
        rows = httpx.get(url, timeout=2).json()
    except (httpx.HTTPError, ValueError):
        rows = read_log_file(paths.log_dir / "requests.jsonl", args.n)
    body = []
    for r in rows:
        ttft = r.get("ttft_s")
        tps = r.get("tokens_per_s")
        body.append(
            [
                str(r.get("model")),
                str(r.get("endpoint")),
                str(r.get("status")),
                f"{r.get('prompt_tokens', 0)}/{r.get('cached_tokens', 0)}",
                str(r.get("completion_tokens", 0)),
                f"{ttft * 1000:.0f} ms" if isinstance(ttft, float) else "-",
                f"{tps:.1f}" if isinstance(tps, float) else "-",
                str(r.get("error", ""))[:40],
            ]
        )
    print(
        table(
            ["model", "endpoint", "status", "prompt/cached", "out", "TTFT", "tok/s", "error"], body
        )
    )
    return 0
