"""Small text-formatting helpers shared by the CLI commands."""

from __future__ import annotations

GIB = 1024**3


def gib(n: int | float | None) -> str:
    """Bytes as GiB with one decimal, or 'unknown'."""
    return "unknown" if n is None else f"{n / GIB:.1f} GiB"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned plain-text table."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
