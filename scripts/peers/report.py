#!/usr/bin/env python3
"""Read the peers results folder (llama-bench JSON, numpy floor JSON, adallava JSON) and print one
table with tokens/s per model and per block and ratios to llama.cpp at the same thread count.

Per block for llama.cpp = model tok/s x layers (the model's time spread over its blocks; it also
carries the embedding lookup, final norm and lm_head, which is ~0.1% of a 600-token prefill but
~14% of the weight bytes a F32 decode step reads, so llama.cpp's per-block tg is a lower bound).
numpy and adallava are measured per block; their 'model' figures are per block / layers.

Also writes summary.json and summary.md next to the inputs.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        print(f"warning: cannot read {path}: {e}", file=sys.stderr)
        return None


def load_lenient(path):
    """JSON that may follow other lines on stdout (e.g. `swift run` build messages)."""
    text = read_text(path)
    for i, line in enumerate(text.splitlines()):
        if line.startswith(("{", "[")):
            try:
                return json.loads("\n".join(text.splitlines()[i:]))
            except ValueError:
                continue
    print(f"warning: no JSON in {path}", file=sys.stderr)
    return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def flatten(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield prefix.lower(), float(obj)


PHASES = {"pp": ("prefill", "pp", "prompt"), "tg": ("decode", "tg", "gen", "generate")}
RATE = re.compile(r"(tok(ens)?_?(per_?)?s(ec(ond)?)?|tps|tokens_per_second)$")


def block_rows(obj):
    rows = obj if isinstance(obj, list) else obj.get("rows", [obj]) if isinstance(obj, dict) else []
    return [r for r in rows if isinstance(r, dict)]


def adallava_dtypes(obj):
    """Weight formats in a `bench block --json` run (its rows' `dtype`; f32 before it had one)."""
    seen = []
    for r in block_rows(obj):
        if r.get("op") == "llm.block" and r.get("dtype", "f32") not in seen:
            seen.append(r.get("dtype", "f32"))
    return seen or ["f32"]


def adallava_rates(obj, threads, pp=600, ctx=600, dtype=None, short_ctx=None):
    """Tolerant reader for `adallava bench block --json`: an object or a list of objects (one per
    thread count, or rows); finds per-block tokens/s for prefill and decode by key names.
    `dtype` picks one weight format's rows; `short_ctx` also reads decode at that context."""
    rows = block_rows(obj)
    # `bench block --json` schema: {"provenance": …, "rows": [{"op": "llm.block", "phase": "prefill" |
    # "decode", "dtype", "tokens", "context", "threads", "median_ms", …}]}.
    typed = [r for r in rows if r.get("op") == "llm.block" and r.get("threads") == threads and r.get("median_ms")
             and (dtype is None or r.get("dtype", "f32") == dtype)]
    if typed:
        out = {}
        for r in typed:
            if r.get("phase") == "prefill" and r.get("tokens") == pp and "pp" not in out:
                out["pp"] = r["tokens"] / (r["median_ms"] / 1000.0)
                out["pp_range"] = (r["tokens"] / (r["max_ms"] / 1000.0), r["tokens"] / (r["min_ms"] / 1000.0))
                out["pp_gflops"] = r.get("gflops")
            if r.get("phase") == "decode" and r.get("context") == ctx and "tg" not in out:
                out["tg"] = r["tokens"] / (r["median_ms"] / 1000.0)
                out["tg_range"] = (r["tokens"] / (r["max_ms"] / 1000.0), r["tokens"] / (r["min_ms"] / 1000.0))
                out["tg_gbps"] = r.get("gbps")
                out["tg_bw_ratio"] = r.get("bandwidth_ratio")
            if short_ctx and r.get("phase") == "decode" and r.get("context") == short_ctx and "tg_short" not in out:
                out["tg_short"] = r["tokens"] / (r["median_ms"] / 1000.0)
            if r.get("phase") == "prefill" and r.get("tokens") == pp and "pp_gf_ratio" not in out:
                out["pp_gf_ratio"] = r.get("gflops_ratio")
        if out:
            return out
    cand = [r for r in rows if r.get("threads") in (threads, str(threads))] or rows
    out = {}
    for r in cand:
        flat = dict(flatten(r))
        for ph, words in PHASES.items():
            if ph in out:
                continue
            for key, val in flat.items():
                parts = re.split(r"[._]", key)
                if any(w in parts or key.startswith(w) for w in words) and RATE.search(key):
                    out[ph] = val
                    break
            else:  # a median time instead of a rate
                for key, val in flat.items():
                    parts = re.split(r"[._]", key)
                    if any(w in parts for w in words) and re.search(r"median_?(ms|s)?$", key):
                        secs = val / 1000.0 if key.endswith("ms") else val
                        toks = r.get("tokens", 1) if ph == "pp" else 1
                        if secs > 0:
                            out[ph] = toks / secs
                        break
    return out


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--pp", type=int, default=600)
    p.add_argument("--tg", type=int, default=32)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--dtypes", default="f32,bf16")
    p.add_argument("--total-seconds", type=int, default=None)
    p.add_argument("--vocab", type=int, default=32000, help="lm_head rows in the GGUFs")
    p.add_argument("--hidden", type=int, default=4096)
    a = p.parse_args()
    R, L = a.results, a.layers
    threads = [int(t) for t in a.threads.split(",") if t]
    dtypes = [d for d in a.dtypes.split(",") if d]

    rows = []  # dicts: engine, dtype, threads, pp_model, pp_block, tg_model, tg_block, (sd)
    llama_meta = {}
    for dt in dtypes:
        data = load(os.path.join(R, f"llama-{dt}.json")) or []
        for t in threads:
            pp = next((r for r in data if r.get("n_threads") == t and r.get("n_prompt") == a.pp and r.get("n_gen") == 0), None)
            tg = next((r for r in data if r.get("n_threads") == t and r.get("n_gen") == a.tg and r.get("n_prompt") == 0), None)
            if not (pp or tg):
                continue
            rows.append({
                "engine": "llama.cpp", "dtype": dt, "threads": t,
                "pp_model": pp and pp["avg_ts"], "pp_model_sd": pp and pp["stddev_ts"],
                "tg_model": tg and tg["avg_ts"], "tg_model_sd": tg and tg["stddev_ts"],
                "pp_block": pp and pp["avg_ts"] * L, "tg_block": tg and tg["avg_ts"] * L,
                "n_params": (pp or tg).get("model_n_params"),
            })
        if data:
            r0 = data[0]
            llama_meta[dt] = {k: r0.get(k) for k in ("build_commit", "build_number", "cpu_info", "backends", "model_type",
                                                     "model_size", "model_n_params", "n_batch", "n_ubatch", "type_k",
                                                     "type_v", "flash_attn", "load_mode", "repack")}

    numpy_meta = None
    for t in threads:
        d = load(os.path.join(R, f"numpy-t{t}.json")) if os.path.exists(os.path.join(R, f"numpy-t{t}.json")) else None
        if not d:
            continue
        numpy_meta = numpy_meta or d.get("blas")
        ppb, tgb = d["prefill"]["tok_s"], d["decode"]["tok_s"]
        rows.append({"engine": "numpy", "dtype": "f32", "threads": t,
                     "pp_block": ppb, "tg_block": tgb, "pp_model": ppb / L, "tg_model": tgb / L,
                     "pp_block_sd": d["prefill"].get("stddev_tok_s"), "tg_block_sd": d["decode"].get("stddev_tok_s"),
                     "pp_gflops": d["prefill"].get("gflops"), "tg_weight_gb_s": d["decode"].get("weight_gb_s")})

    ada_status = read_text(os.path.join(R, "adallava-status.txt")) or "adallava stage not run"
    one = os.path.join(R, "adallava.json")  # one run over all thread counts (current interface)
    one_data = load_lenient(one) if os.path.exists(one) else None
    short_ctx = max(1, a.tg // 2)
    for t in threads:
        path = one if one_data is not None else os.path.join(R, f"adallava-t{t}.json")
        if not os.path.exists(path):
            continue
        d = one_data if one_data is not None else load_lenient(path)
        for dt in (adallava_dtypes(d) if d is not None else ["f32"]):
            rates = adallava_rates(d, t, a.pp, a.pp, dtype=dt, short_ctx=short_ctx) if d is not None else {}
            if not rates:
                ada_status += f"; could not find {dt} prefill/decode tokens/s at {t} thread(s) in {path}"
                continue
            ppb, tgb = rates.get("pp"), rates.get("tg")
            rows.append({"engine": "adallava", "dtype": dt, "threads": t, "pp_block": ppb, "tg_block": tgb,
                         "pp_model": ppb and ppb / L, "tg_model": tgb and tgb / L,
                         "pp_range": rates.get("pp_range"), "tg_range": rates.get("tg_range"),
                         "pp_gflops": rates.get("pp_gflops"), "tg_gbps": rates.get("tg_gbps"),
                         "tg_short_block": rates.get("tg_short"), "pp_gflops_ratio": rates.get("pp_gf_ratio"),
                         "tg_bandwidth_ratio": rates.get("tg_bw_ratio")})

    def llama(dt, t):
        return next((r for r in rows if r["engine"] == "llama.cpp" and r["dtype"] == dt and r["threads"] == t), None)

    for r in rows:
        for dt in dtypes:
            ref = llama(dt, r["threads"])
            for ph in ("pp", "tg"):
                v, rv = r.get(f"{ph}_block"), ref and ref.get(f"{ph}_block")
                r[f"{ph}_vs_{dt}"] = (v / rv) if (v and rv) else None

    hdr = ["engine", "dtype", "thr", f"pp{a.pp} tok/s ({L}-layer model)", "pp tok/s per block",
           f"tg{a.tg} tok/s ({L}-layer model)", "tg tok/s per block"]
    hdr += [f"pp ÷ llama {dt}" for dt in dtypes] + [f"tg ÷ llama {dt}" for dt in dtypes]
    order = {"adallava": 0, "llama.cpp": 1, "numpy": 2}
    rows.sort(key=lambda r: (r["threads"], order.get(r["engine"], 9), r["dtype"]))
    table = []
    for r in rows:
        pm = fmt(r.get("pp_model"), 2) + (f" ± {r['pp_model_sd']:.2f}" if r.get("pp_model_sd") is not None else "")
        tm = fmt(r.get("tg_model"), 2) + (f" ± {r['tg_model_sd']:.2f}" if r.get("tg_model_sd") is not None else "")
        pb = fmt(r.get("pp_block"), 1) + (f" ± {r['pp_block_sd']:.1f}" if r.get("pp_block_sd") is not None else "")
        tb = fmt(r.get("tg_block"), 2) + (f" ± {r['tg_block_sd']:.2f}" if r.get("tg_block_sd") is not None else "")
        if r.get("pp_range"):
            pb += f" ({r['pp_range'][0]:.1f}–{r['pp_range'][1]:.1f})"
        if r.get("tg_range"):
            tb += f" ({r['tg_range'][0]:.2f}–{r['tg_range'][1]:.2f})"
        table.append([r["engine"], r["dtype"], str(r["threads"]), pm, pb, tm, tb]
                     + [fmt(r.get(f"pp_vs_{dt}"), 2) for dt in dtypes] + [fmt(r.get(f"tg_vs_{dt}"), 2) for dt in dtypes])

    md = ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" for _ in hdr) + "|"]
    md += ["| " + " | ".join(row) + " |" for row in table]

    # adallava ÷ llama.cpp at the same weight format and threads. llama.cpp's tg per block is
    # model tok/s × L, but each of its tokens also streams lm_head (vocab × hidden, in the same
    # format in these GGUFs); the adjusted figure gives lm_head its share of the token's time by
    # weight bytes: per block = model tok/s × (L + lm_head params / block params).
    same = []
    for r in rows:
        if r["engine"] != "adallava":
            continue
        ref = llama(r["dtype"], r["threads"])
        if not ref:
            continue
        head = a.vocab * a.hidden
        block = ((ref.get("n_params") or 0) - 2 * head - a.hidden) / L
        adj = ref["tg_model"] * (L + head / block) if ref.get("tg_model") and block > 0 else None
        def ratio(x, y):
            return x / y if x and y else None
        same.append({"dtype": r["dtype"], "threads": r["threads"],
                     "pp": ratio(r.get("pp_block"), ref.get("pp_block")),
                     "tg": ratio(r.get("tg_block"), ref.get("tg_block")),
                     "tg_adjusted": ratio(r.get("tg_block"), adj),
                     "tg_short_adjusted": ratio(r.get("tg_short_block"), adj),
                     "llama_tg_block_adjusted": adj, "head_over_block": head / block if block > 0 else None,
                     "pp_gflops_ratio": r.get("pp_gflops_ratio"), "tg_bandwidth_ratio": r.get("tg_bandwidth_ratio")})
    for r in rows:
        for x in same:
            if r["engine"] == "adallava" and (r["dtype"], r["threads"]) == (x["dtype"], x["threads"]):
                r["tg_vs_llama_lm_head_adjusted"] = x["tg_adjusted"]
    cmp_hdr = ["dtype", "thr", f"pp{a.pp} adallava ÷ llama.cpp", f"tg adallava (ctx {a.pp}) ÷ llama.cpp tg{a.tg}",
               "same, llama.cpp lm_head-adjusted", f"adallava at ctx {max(1, a.tg // 2)} ÷ llama.cpp, lm_head-adjusted",
               "adallava prefill gflops_ratio", "adallava decode bandwidth_ratio"]
    cmp_md = ["| " + " | ".join(cmp_hdr) + " |", "|" + "|".join("---" for _ in cmp_hdr) + "|"]
    for x in sorted(same, key=lambda x: (x["dtype"], x["threads"])):
        cmp_md.append("| " + " | ".join([x["dtype"], str(x["threads"]), fmt(x["pp"], 2), fmt(x["tg"], 2),
                                         fmt(x["tg_adjusted"], 2), fmt(x["tg_short_adjusted"], 2),
                                         fmt(x["pp_gflops_ratio"], 3), fmt(x["tg_bandwidth_ratio"], 3)]) + " |")

    lines = []
    lines.append(f"llama.cpp: {read_text(os.path.join(R, 'llama_version.txt')) or '?'}")
    for ln in read_text(os.path.join(R, "llama_simd.txt")).splitlines():
        lines.append(f"  {ln}")
    if llama_meta:
        m = next(iter(llama_meta.values()))
        lines.append(f"  llama-bench settings: n_batch {m.get('n_batch')}, n_ubatch {m.get('n_ubatch')}, KV cache "
                     f"{m.get('type_k')}/{m.get('type_v')}, flash_attn {({-1: 'auto', 0: 'off', 1: 'on'}).get(m.get('flash_attn'), m.get('flash_attn'))}, backends {m.get('backends')}, "
                     f"cpu {m.get('cpu_info')}")
        for dt, m in llama_meta.items():
            lines.append(f"  model {dt}: {m.get('model_type')}, {m.get('model_size', 0) / 2**30:.2f} GiB, "
                         f"{m.get('model_n_params', 0) / 1e9:.3f} B params")
    if numpy_meta:
        tp = numpy_meta.get("threadpoolctl")
        if tp:
            lines.append("numpy BLAS (threadpoolctl): " + "; ".join(
                f"{x.get('internal_api')} {x.get('version')} kernel {x.get('architecture')}, "
                f"{x.get('threading_layer')} threading" for x in tp))
        nb = numpy_meta.get("numpy_blas") or {}
        lines.append(f"numpy {numpy_meta.get('numpy')} built with {nb.get('name')} {nb.get('version')} "
                     f"({nb.get('openblas configuration')})")
        env = numpy_meta.get("env") or {}
        lines.append(f"  ran with OPENBLAS_CORETYPE={env.get('OPENBLAS_CORETYPE')} OPENBLAS_L2_SIZE={env.get('OPENBLAS_L2_SIZE')} "
                     "(left as the machine sets them)")
    lines.append(f"adallava: {ada_status}")
    lines.append("")
    lines += md
    lines.append("")
    if cmp_md[2:]:
        lines.append(f"adallava ÷ llama.cpp ({read_text(os.path.join(R, 'llama_version.txt')) or '?'}) at the same "
                     "weight format and thread count, per block (>1: adallava faster):")
        lines.append("")
        lines += cmp_md
        lines.append("")
        hb = next((x["head_over_block"] for x in same if x.get("head_over_block")), None)
        lines.append(f"How tg is compared: llama.cpp's tg{a.tg} generates {a.tg} tokens from an empty context "
                     f"(contexts 0–{a.tg - 1}) through {L} blocks plus lm_head ({a.vocab}×{a.hidden}, same format "
                     f"as the blocks) per token; its per-block rate is model tok/s × {L}. adallava's is one block's "
                     f"decode step at context {a.pp} (and at {max(1, a.tg // 2)}, llama.cpp's mean context), "
                     "no lm_head. The lm_head-adjusted ratio charges lm_head its share of llama.cpp's token time "
                     f"by weight bytes: llama.cpp per block = model tok/s × ({L} + {fmt(hb, 3)}), lm_head ÷ block "
                     "weights from the GGUF's parameter count.")
        lines.append("")
    lines.append(f"Notes: llama.cpp per block = model tok/s x {L}. Its tg{a.tg} runs from an empty context "
                 f"(llama-bench n_depth 0) and includes lm_head (32000x4096) each token; numpy's decode step is "
                 f"one block at context {a.pp}. numpy rows: median of repeats, f32 OpenBLAS, no fusion.")
    for r in rows:
        if r["engine"] == "numpy":
            lines.append(f"  numpy {r['threads']} thread(s): prefill {fmt(r.get('pp_gflops'))} GFLOP/s, "
                         f"decode reads weights at {fmt(r.get('tg_weight_gb_s'))} GB/s")
        if r["engine"] == "adallava" and (r.get("pp_gflops") or r.get("tg_gbps")):
            lines.append(f"  adallava {r['threads']} thread(s): prefill {fmt(r.get('pp_gflops'))} GFLOP/s, "
                         f"decode reads weights + KV at {fmt(r.get('tg_gbps'))} GB/s (its own counts; range = min–max time)")
    st = read_text(os.path.join(R, "stage_seconds.txt"))
    if st:
        lines.append("stage seconds: " + ", ".join(l.replace(" ", " ") for l in st.splitlines()))
    if a.total_seconds is not None:
        lines.append(f"total so far: {a.total_seconds} s ({a.total_seconds / 60:.1f} min)")

    text = "\n".join(lines)
    print(text)
    with open(os.path.join(R, "summary.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(R, "summary.json"), "w") as f:
        json.dump({"rows": rows, "same_dtype": same, "llama": llama_meta, "numpy_blas": numpy_meta, "adallava": ada_status,
                   "llama_version": read_text(os.path.join(R, "llama_version.txt")),
                   "llama_simd": read_text(os.path.join(R, "llama_simd.txt")).splitlines(),
                   "layers": L, "pp": a.pp, "tg": a.tg}, f, indent=1)


if __name__ == "__main__":
    main()
