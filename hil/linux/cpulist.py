"""The kernel's cpulist format ("0-2,5"), used by every *_list file we touch."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=1024)
def parse_cpulist(text: str) -> tuple[int, ...]:
    """CPUs named by a cpulist, sorted and without duplicates; "" means none.

    The kernel prints disjoint ranges in ascending order: those are joined as
    they come (a 512-CPU mask is read every step); any other order or overlap
    is sorted and deduplicated.  Cached: a step reads two masks per vector,
    and a machine's masks repeat a few texts.
    """
    cpus: list[int] = []
    ordered = True
    for part in text.strip().split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            lo = int(first)
            hi = int(last) if dash else lo
        except ValueError:
            raise ValueError(f"bad cpulist {text.strip()!r}: cannot read {part!r}") from None
        if lo < 0 or hi < lo:
            raise ValueError(f"bad cpulist {text.strip()!r}: range {part!r} is empty")
        ordered = ordered and (not cpus or lo > cpus[-1])
        cpus.extend(range(lo, hi + 1))
    return tuple(cpus) if ordered else tuple(sorted(set(cpus)))


def format_cpulist(cpus: Iterable[int]) -> str:
    """Shortest cpulist naming `cpus`, with runs folded into ranges as the kernel prints them."""
    ordered = sorted(set(cpus))
    if any(cpu < 0 for cpu in ordered):
        raise ValueError(f"negative CPU number in {ordered}")
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
