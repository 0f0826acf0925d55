#!/usr/bin/env python3
"""Prints the README's benchmark tables from criterion's results (target/criterion).

    cargo bench && python3 scripts/bench_table.py

Ratios are hand-written / built-in, each the ratio of two medians measured in the same run.
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def medians():
    """(group, function, parameter) -> median in seconds, from every new/benchmark.json."""
    out = {}
    for bench in ROOT.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        key = (meta["group_id"], meta.get("function_id") or "", meta.get("value_str") or "")
        out[key] = estimates["median"]["point_estimate"] * 1e-9
    return out


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if a and b else "–"


def main():
    m = medians()
    if not m:
        sys.exit("no criterion results under target/criterion: run `cargo bench` first")
    losses = sorted({g for g, _, _ in m if g.startswith("loss/")})
    sizes = ["1000", "10000", "100000", "1000000", "10000000"]
    print("| loss | forward 1e6 | forward+backward 1e3 | 1e4 | 1e5 | 1e6 | 1e7 | hand f+b at 1e6 |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for g in losses:
        row = [g.removeprefix("loss/"), fmt_ratio(m.get((g, "hand/forward", "1000000")), m.get((g, "libtorch/forward", "1000000")))]
        for s in sizes:
            row.append(fmt_ratio(m.get((g, "hand/forward+backward", s)), m.get((g, "libtorch/forward+backward", s))))
        t = m.get((g, "hand/forward+backward", "1000000"))
        row.append(f"{t * 1e3:.2f} ms" if t else "–")
        print("| " + " | ".join(row) + " |")
    half = [g for g in losses if (g, "hand/forward+backward", "1000000/float16") in m]
    if half:
        print("\n| loss at 1e6, hand / libtorch | float32 forward | float32 f+b | float16 forward | float16 f+b "
              "| bfloat16 forward | bfloat16 f+b |")
        print("|---|--:|--:|--:|--:|--:|--:|")
        for g in half:
            row = [g.removeprefix("loss/")]
            for s in ["1000000", "1000000/float16", "1000000/bfloat16"]:
                for f in ["forward", "forward+backward"]:
                    row.append(fmt_ratio(m.get((g, f"hand/{f}", s)), m.get((g, f"libtorch/{f}", s))))
            print("| " + " | ".join(row) + " |")
    extra = [(g, s) for g, f, s in m if g == "loss/cross_entropy" and f == "hand/forward+backward" and "x" in s]
    for g, s in sorted(set(extra)):
        a, b = m.get((g, "hand/forward+backward", s)), m.get((g, "libtorch/forward+backward", s))
        print(f"\ncross_entropy at {s}: forward+backward {fmt_ratio(a, b)} ({a * 1e3:.1f} ms against {b * 1e3:.1f} ms)", end="")
    print("\n")
    optimizers = sorted({g for g, _, _ in m if g.startswith("optimizer/")})
    if optimizers:
        print("| optimizer | hand-written step | C++ optimizer | tch COptimizer | fused kernel | hand / C++ |")
        print("|---|--:|--:|--:|--:|--:|")
        for g in optimizers:
            t = {f: m.get((g, f, "")) for f in ["hand", "cpp", "tch", "fused"]}
            cells = [f"{t[f] * 1e3:.2f} ms" if t[f] else "–" for f in ["hand", "cpp", "tch", "fused"]]
            print(f"| {g.removeprefix('optimizer/')} | " + " | ".join(cells) + f" | {fmt_ratio(t['hand'], t['cpp'])} |")
    gate = m.get(("gate", "check", ""))
    if gate:
        print(f"\ngate: `check` on the whole registry, warm, in process: {gate:.2f} s (median)")


if __name__ == "__main__":
    main()
