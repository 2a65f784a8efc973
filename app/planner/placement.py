"""llama.cpp placement: GPU layers, experts in RAM, tensor split, KV type and context.

Search order when the user has not pinned the context (agents want 32k+, see DESIGN.md):
1. every block on the GPU(s) at the preferred context with an f16 cache, then a q8_0 cache;
2. still every block on the GPU, the context shrinking step by step down to the agent floor
   (32k, or the preferred context if smaller) — *context shrinks before layers move*;
3. at the floor context, move work to RAM: for MoE models the routed experts of the first
   blocks (``--n-cpu-moe``) while attention and shared weights stay on the GPU, for dense
   models whole blocks (fewer ``-ngl``);
4. everything in RAM (CPU only), the context shrinking down to 4k;
5. nothing fits: the verdict says how much memory is missing.
A pinned context or KV type is never changed; only the placement moves.
"""

from __future__ import annotations

from collections.abc import Callable

from app.catalog.spec import ModelSpec
from app.planner.devices import GIB, Device
from app.planner.memory import Layout, breakdown, per_layer_kv
from app.planner.types import DeviceUse, KvType, PlacementPlan, PlanGoal

AGENT_FLOOR_CONTEXT = 32768
MIN_CONTEXT = 4096
DEFAULT_TARGET_CONTEXT = 65536
_KV_ORDER: tuple[KvType, ...] = ("f16", "q8_0")
_CONTEXT_LADDER = (262144, 131072, 98304, 65536, 49152, 32768, 24576, 16384, 12288, 8192, 4096)


def _fits(uses: list[DeviceUse]) -> bool:
    return all(u.fits for u in uses)


def _gpus_fit(uses: list[DeviceUse]) -> bool:
    return all(u.fits for u in uses if u.device != "cpu")


def _ladder(top: int, bottom: int) -> list[int]:
    steps = [c for c in _CONTEXT_LADDER if bottom <= c < top]
    return [top, *steps] if top >= bottom else [top]


def _split(gpus: list[Device]) -> tuple[float, ...]:
    usable = [max(g.budget_bytes - g.overhead_bytes, 0) for g in gpus]
    total = sum(usable) or 1
    return tuple(round(u / total, 3) for u in usable)


def _max_true(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """Largest x in [lo, hi] with ok(x), assuming ok is monotone (True then False)."""
    if not ok(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _min_true(lo: int, hi: int, ok: Callable[[int], bool]) -> int | None:
    """Smallest x in [lo, hi] with ok(x), assuming ok is monotone (False then True)."""
    if not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Search:
    def __init__(self, spec: ModelSpec, gpus: list[Device], cpu: Device, goal: PlanGoal):
        self.spec, self.gpus, self.cpu, self.goal = spec, gpus, cpu, goal
        self.split = _split(gpus) if gpus else ()
        self.n = spec.n_layers
        self._kv: dict[tuple[int, str], list[int]] = {}

    def uses(self, ngl: int, moe: int, ctx: int, kv: str) -> list[DeviceUse]:
        key = (ctx, kv)
        if key not in self._kv:
            self._kv[key] = per_layer_kv(self.spec, ctx, self.goal, kv)
        layout = Layout(ngl, moe, self.split, ctx, kv)
        return breakdown(self.spec, layout, self.gpus, self.cpu, self.goal, self._kv[key])

    def full_gpu(self, ctx: int, kv: str) -> Layout | None:
        if self.gpus and _fits(self.uses(self.n + 1, 0, ctx, kv)):
            return Layout(self.n + 1, 0, self.split, ctx, kv)
        return None

    def hybrid(self, ctx: int, kv: str) -> Layout | None:
        """Most GPU work that fits at ``ctx``; None if even the CPU side overflows."""
        if not self.gpus:
            return None
        if self.spec.is_moe:
            moe = _min_true(0, self.n, lambda k: _gpus_fit(self.uses(self.n + 1, k, ctx, kv)))
            if moe is not None:
                found = Layout(self.n + 1, moe, self.split, ctx, kv)
                return found if _fits(self.uses(self.n + 1, moe, ctx, kv)) else None
        moe = self.n if self.spec.is_moe else 0
        ngl = _max_true(0, self.n + 1, lambda g: _gpus_fit(self.uses(g, moe, ctx, kv)))
        if ngl is None or ngl == 0:
            return None
        return (
            Layout(ngl, moe, self.split, ctx, kv) if _fits(self.uses(ngl, moe, ctx, kv)) else None
        )

    def cpu_only(self, ctx: int, kv: str) -> Layout | None:
        return Layout(0, 0, (), ctx, kv) if _fits(self.uses(0, 0, ctx, kv)) else None

    def max_context(self, layout: Layout) -> int:
        top = max(self.spec.context_length, layout.ctx)
        best = _max_true(
            layout.ctx // 256,
            top // 256,
            lambda c: _fits(self.uses(layout.gpu_layers, layout.n_cpu_moe, c * 256, layout.kv)),
        )
        return (best or 0) * 256


def plan_llamacpp(
    spec: ModelSpec, gpus: list[Device], cpu: Device, goal: PlanGoal
) -> PlacementPlan:
    """Choose a llama.cpp placement for ``spec`` on the devices (pure function)."""
    search = _Search(spec, gpus, cpu, goal)
    trained = spec.context_length or DEFAULT_TARGET_CONTEXT
    pinned = goal.context is not None
    target = goal.context or min(goal.target_context or DEFAULT_TARGET_CONTEXT, trained)
    floor = target if pinned else min(AGENT_FLOOR_CONTEXT, target)
    kv_types: tuple[KvType, ...] = (goal.kv_type,) if goal.kv_type else _KV_ORDER
    tradeoffs: list[str] = []

    layout: Layout | None = None
    for ctx in _ladder(target, floor):
        for kv in kv_types:
            layout = search.full_gpu(ctx, kv)
            if layout:
                break
        if layout:
            break
    if layout is None:
        for kv in kv_types:
            layout = search.hybrid(floor, kv)
            if layout:
                break
    if layout is None:
        for ctx in _ladder(floor, target if pinned else MIN_CONTEXT):
            for kv in kv_types:
                layout = search.cpu_only(ctx, kv)
                if layout:
                    break
            if layout:
                break
    if layout is None:
        return _does_not_fit(search, spec, target, kv_types[-1], pinned)

    if layout.ctx < target:
        full = layout.gpu_layers > spec.n_layers and layout.n_cpu_moe == 0
        why = "every layer on the GPU" if full else "as much of the model on the GPU as possible"
        if layout.gpu_layers == 0:
            why = "the model in memory"
        tradeoffs.append(f"context reduced from {target} to {layout.ctx} tokens to keep {why}")
    if layout.kv != "f16" and not goal.kv_type:
        tradeoffs.append(f"KV cache quantized to {layout.kv} to fit the context")
    return _finish(search, layout, target, tradeoffs)


def _verdict_reason(search: _Search, layout: Layout, uses: list[DeviceUse]) -> tuple[str, str]:
    spec, n = search.spec, search.spec.n_layers
    gpu_bytes = sum(u.total_bytes for u in uses if u.device != "cpu")
    if layout.gpu_layers == 0 or not search.gpus:
        why = "no usable GPU" if not search.gpus else "the GPU is too small to help"
        return "cpu_only", f"Runs on the CPU from RAM ({why}); expect slow generation."
    if layout.gpu_layers > n and layout.n_cpu_moe == 0:
        where = "the GPU" if len(search.gpus) == 1 else f"{len(search.gpus)} GPUs"
        return "full_gpu", f"Every layer fits on {where} ({gpu_bytes / GIB:.1f} GiB used)."
    if layout.n_cpu_moe:
        return "hybrid", (
            f"Attention and shared weights on the GPU, routed experts of {layout.n_cpu_moe} of "
            f"{n} layers in RAM (only {spec.n_experts_used} of {spec.n_experts} experts are "
            "read per token)."
        )
    on_gpu = min(layout.gpu_layers, n)
    return "hybrid", f"{on_gpu} of {n} layers on the GPU, the rest in RAM."


def _finish(search: _Search, layout: Layout, target: int, tradeoffs: list[str]) -> PlacementPlan:
    spec, goal = search.spec, search.goal
    uses = search.uses(layout.gpu_layers, layout.n_cpu_moe, layout.ctx, layout.kv)
    verdict, reason = _verdict_reason(search, layout, uses)
    if layout.n_cpu_moe or (0 < layout.gpu_layers <= spec.n_layers):
        tradeoffs.append("part of the model runs from RAM, which is slower than VRAM")
    return PlacementPlan(
        model_id=spec.id,
        verdict=verdict,
        reason=reason,
        context=layout.ctx,
        max_context=search.max_context(layout),
        kv_type=layout.kv,
        flash_attention=goal.flash_attention,
        n_layers=spec.n_layers,
        gpu_layers=layout.gpu_layers,
        n_cpu_moe=layout.n_cpu_moe,
        tensor_split=list(layout.split) if len(search.gpus) > 1 else [],
        parallel=goal.parallel,
        devices=uses,
        tradeoffs=tradeoffs,
        confidence=spec.confidence,
        notes=list(spec.notes),
    )


def _does_not_fit(
    search: _Search, spec: ModelSpec, ctx: int, kv: KvType, pinned: bool
) -> PlacementPlan:
    small = MIN_CONTEXT if not pinned else ctx
    need = sum(u.total_bytes for u in search.uses(spec.n_layers + 1, spec.n_layers, small, kv))
    have = search.cpu.budget_bytes + sum(g.budget_bytes for g in search.gpus)
    uses = search.uses(0, 0, small, kv)
    return PlacementPlan(
        model_id=spec.id,
        verdict="does_not_fit",
        reason=(
            f"Needs about {need / GIB:.1f} GiB at a {small}-token context but the machine offers "
            f"{have / GIB:.1f} GiB (VRAM + RAM after a safety margin)."
        ),
        context=small,
        kv_type=kv,
        n_layers=spec.n_layers,
        devices=uses,
        confidence=spec.confidence,
        notes=list(spec.notes),
    )
