"""Launcher for ``mlx_lm server``, run by the MLX engine environment's Python.

``python serve.py --model DIR --host H --port P [--chat-template-file F] [mlx_lm server flags]``

Stock ``mlx_lm server`` opens its port first and loads the model on its generation thread:
``/health`` answers 200 while the model is still loading, and a model that fails to load leaves
a live process answering 503 for ever. This launcher keeps mlx-lm's own server and flags but

* opens the port only once the model is loaded (still on mlx-lm's generation thread), so a
  200 from ``/health`` means "loaded", and a load failure exits 1 with the traceback and a
  one-line summary (``FAILED_MARK``) on stderr;
* exits when the port cannot be bound, checked before the load too (stock mlx-lm hangs on
  its generation thread);
* serves its one model under any ``model`` name a request gives (mlx-lm would otherwise try
  to download that name from the Hugging Face hub);
* reads ``--chat-template-file`` (mlx-lm takes the template text only);
* never goes online (``HF_HUB_OFFLINE``).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

LOADING_MARK = "roost-mlx: loading model"
LOADED_MARK = "roost-mlx: model loaded"
FAILED_MARK = "roost-mlx: load failed:"


def rewrite_argv(argv: list[str]) -> list[str]:
    """``--chat-template-file F`` → ``--chat-template <text of F>``; other flags unchanged."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--chat-template-file":
            out += ["--chat-template", Path(next(args)).read_text(encoding="utf-8")]
        elif arg.startswith("--chat-template-file="):
            text = Path(arg.split("=", 1)[1]).read_text(encoding="utf-8")
            out += ["--chat-template", text]
        else:
            out.append(arg)
    return out


def check_port(host: str, port: int) -> None:
    """Raise ``OSError`` (errno EADDRINUSE) when ``host:port`` cannot be listened on now."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does
        probe.bind(address)


def _exit(code: int) -> None:
    """Exit now: mlx-lm's generation thread is not a daemon and would keep the process up."""
    logging.shutdown()
    os._exit(code)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    sys.argv = [sys.argv[0], *rewrite_argv(sys.argv[1:])]
    from mlx_lm import server

    stock_run, stock_http = server.run, server._run_http_server
    load_done = threading.Event()
    load_failed: list[BaseException] = []

    class OneModelProvider(server.ModelProvider):  # type: ignore[misc]
        def load(
            self, model_path: Any, adapter_path: Any = None, draft_model_path: Any = None
        ) -> Any:
            # One process serves one model: whatever name the client used means that one.
            return super().load("default_model", adapter_path, draft_model_path)

        def load_default(self) -> None:
            # Runs on mlx-lm's generation thread, as in stock mlx-lm: MLX streams are
            # per thread, so the model must be loaded where it will be evaluated.
            logging.info("%s %s", LOADING_MARK, self.cli_args.model)
            try:
                super().load_default()
            except BaseException as exc:
                # The traceback, then one summary line: a long message (every missing
                # weight name) must not push the exception's type out of the log tail.
                logging.exception("roost-mlx: loading %s failed", self.cli_args.model)
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                logging.error("%s %s: %s", FAILED_MARK, type(exc).__name__, first)
                load_failed.append(exc)
                raise
            finally:
                load_done.set()
            logging.info(LOADED_MARK)

    def run(host: str, port: int, provider: Any, *args: Any, **kwargs: Any) -> None:
        try:
            check_port(host, port)  # fail in a second, not after loading many GB
        except OSError as exc:
            logging.error("roost-mlx: cannot listen on %s:%s: %s", host, port, exc)
            _exit(1)
        try:
            stock_run(host, port, provider, *args, **kwargs)
        except Exception:
            logging.exception("roost-mlx: the server stopped")
            _exit(1)

    def http_after_load(host: str, port: int, generator: Any, *args: Any, **kwargs: Any) -> None:
        load_done.wait()  # the port opens only once the model is loaded
        if load_failed:
            _exit(1)
        stock_http(host, port, generator, *args, **kwargs)

    server.ModelProvider = OneModelProvider
    server.run = run
    server._run_http_server = http_after_load
    server.main()


if __name__ == "__main__":
    main()
