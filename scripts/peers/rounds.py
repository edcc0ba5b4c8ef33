#!/usr/bin/env python3
"""Aggregate the peers `rounds` stage: each round-N/summary.json (written by report.py) holds
adallava ÷ llama.cpp at the same weight format and thread count; print each ratio's median and
min–max over the rounds, and how many rounds had adallava at least as fast.

Writes rounds.md and rounds.json next to the round folders.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

METRICS = [("pp", "pp adallava ÷ llama.cpp"),
           ("tg_adjusted", "tg ÷ llama.cpp, lm_head-adjusted (ctx 600)"),
           ("tg_short_adjusted", "same at ctx TG/2"),
           ("pp_gflops_ratio", "adallava prefill gflops_ratio"),
           ("tg_bandwidth_ratio", "adallava decode bandwidth_ratio")]
AHEAD = ("pp", "tg_adjusted")  # ratios to llama.cpp: count the rounds at ≥ 1.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--rounds", type=int, required=True)
    p.add_argument("--llama-version", default="?")
    a = p.parse_args()
    per = {}  # (dtype, threads) -> metric -> [values by round]
    used = 0
    for r in range(1, a.rounds + 1):
        path = os.path.join(a.results, f"round-{r}", "summary.json")
        try:
            with open(path) as f:
                same = json.load(f).get("same_dtype", [])
        except (OSError, ValueError) as e:
            print(f"warning: round {r}: cannot read {path}: {e}", file=sys.stderr)
            continue
        used += 1
        for x in same:
            m = per.setdefault((x["dtype"], x["threads"]), {})
            for key, _ in METRICS:
                if x.get(key) is not None:
                    m.setdefault(key, []).append(x[key])
    if not per:
        print("no round had adallava and llama.cpp at the same weight format and threads", file=sys.stderr)
        sys.exit(1)

    def cell(values, ahead):
        if not values:
            return "-"
        s = f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"
        return s + (f", ≥ 1 in {sum(v >= 1 for v in values)}/{len(values)}" if ahead else "")

    hdr = ["dtype", "thr"] + [title for _, title in METRICS]
    md = [f"adallava ÷ llama.cpp ({a.llama_version}) over {used} alternating round(s): median (min–max) per "
          "round, and the rounds in which adallava was at least as fast", "",
          "| " + " | ".join(hdr) + " |", "|" + "|".join("---" for _ in hdr) + "|"]
    out = []
    for (dt, t), m in sorted(per.items()):
        md.append("| " + " | ".join([dt, str(t)] + [cell(m.get(k, []), k in AHEAD) for k, _ in METRICS]) + " |")
        out.append({"dtype": dt, "threads": t, **{k: {"median": statistics.median(v), "min": min(v), "max": max(v),
                                                       "values": v} for k, v in m.items()}})
    text = "\n".join(md)
    print(text)
    with open(os.path.join(a.results, "rounds.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(a.results, "rounds.json"), "w") as f:
        json.dump({"rounds": used, "llama_version": a.llama_version, "ratios": out}, f, indent=1)


if __name__ == "__main__":
    main()
