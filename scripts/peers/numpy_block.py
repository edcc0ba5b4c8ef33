#!/usr/bin/env python3
"""numpy floor: one LLaMA decoder block (7B shapes by default) in float32 on numpy's BLAS.

Prefill of --tokens tokens (RMSNorm, Q/K/V projections, rotate-half RoPE, causal attention with
batched matmuls, output projection, residual, RMSNorm, SwiGLU MLP, residual) and one decode step
at context --tokens (the new token attends to --tokens positions: its own K/V written after
--tokens - 1 cached ones, as `adallava bench block --contexts` counts). Median of --reps
timed runs after one warm-up (decode: at least 10 runs). Prints one JSON object.

Thread count: set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS in the environment (run_peers.sh does);
--threads is also applied through threadpoolctl when it is installed. The JSON says which BLAS
numpy runs (threadpoolctl: library, version, kernel architecture, threads; otherwise
numpy.show_config) and the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE values it ran under, which this
script leaves as they are.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def blas_info(threads: int):
    info: dict = {"env": {k: os.environ.get(k) for k in
                          ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}}
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
        threadpool_limits(limits=threads, user_api="blas")
        libs = [d for d in threadpool_info() if d.get("user_api") == "blas"]
        info["threadpoolctl"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture",
                                                         "num_threads", "threading_layer", "filepath")}
                                 for d in libs]
    except ImportError:
        info["threadpoolctl"] = None
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_blas"] = {k: cfg.get(k) for k in ("name", "version", "openblas configuration")}
    except Exception as e:  # older numpy
        info["numpy_blas"] = {"error": repr(e)}
    info["numpy"] = np.__version__
    return info


class Block:
    def __init__(self, hidden, heads, kv_heads, inter, theta, eps, rng):
        self.h, self.nh, self.nkv, self.ff, self.eps = hidden, heads, kv_heads, inter, eps
        self.d = hidden // heads
        kvd = self.d * kv_heads

        def w(i, o):  # stored [in, out]: x @ W is a plain row-major GEMM
            a = rng.standard_normal((i, o), dtype=np.float32)
            a *= np.float32(0.02)
            return a

        self.wq, self.wk, self.wv, self.wo = w(hidden, hidden), w(hidden, kvd), w(hidden, kvd), w(hidden, hidden)
        self.wg, self.wu, self.wd = w(hidden, inter), w(hidden, inter), w(inter, hidden)
        self.n1 = np.ones(hidden, np.float32)
        self.n2 = np.ones(hidden, np.float32)
        self.inv_freq = (1.0 / theta ** (np.arange(0, self.d, 2, dtype=np.float64) / self.d)).astype(np.float32)
        self.scale = np.float32(1.0 / np.sqrt(self.d))

    def params(self):
        return sum(a.size for a in (self.wq, self.wk, self.wv, self.wo, self.wg, self.wu, self.wd))

    def rmsnorm(self, x, g):
        var = np.mean(x * x, axis=-1, keepdims=True, dtype=np.float32)
        return (x / np.sqrt(var + np.float32(self.eps))) * g

    def rope_tables(self, pos0, n):
        t = np.arange(pos0, pos0 + n, dtype=np.float32)
        f = np.outer(t, self.inv_freq)
        emb = np.concatenate([f, f], axis=-1)
        return np.cos(emb), np.sin(emb)          # [n, d]

    def rope(self, x, cos, sin):                 # x [heads, n, d], rotate-half (HF LLaMA)
        half = self.d // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rot * sin

    def forward(self, x, pos0, k_cache=None, v_cache=None, mask=None):
        n = x.shape[0]
        hn = self.rmsnorm(x, self.n1)
        q = (hn @ self.wq).reshape(n, self.nh, self.d).transpose(1, 0, 2)
        k = (hn @ self.wk).reshape(n, self.nkv, self.d).transpose(1, 0, 2)
        v = (hn @ self.wv).reshape(n, self.nkv, self.d).transpose(1, 0, 2)
        cos, sin = self.rope_tables(pos0, n)
        q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
        if k_cache is not None:                  # decode: write at pos0, attend to 0..pos0
            k_cache[:, pos0:pos0 + n] = k
            v_cache[:, pos0:pos0 + n] = v
            k, v = k_cache[:, :pos0 + n], v_cache[:, :pos0 + n]
        if self.nkv != self.nh:
            rep = self.nh // self.nkv
            k, v = np.repeat(k, rep, axis=0), np.repeat(v, rep, axis=0)
        s = np.matmul(q, k.transpose(0, 2, 1))   # [heads, n, ctx]
        s *= self.scale
        if mask is not None:
            s += mask
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        o = np.matmul(s, v).transpose(1, 0, 2).reshape(n, self.h)
        x = x + o @ self.wo
        hn = self.rmsnorm(x, self.n2)
        g = hn @ self.wg
        u = hn @ self.wu
        a = g / (np.float32(1.0) + np.exp(-g)) * u
        return x + a @ self.wd


def timeit(fn, reps):
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tokens", type=int, default=600)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--decode-reps", type=int, default=10)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=32)
    p.add_argument("--intermediate", type=int, default=11008)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--rms-eps", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    info = blas_info(a.threads)
    rng = np.random.default_rng(a.seed)
    blk = Block(a.hidden, a.heads, a.kv_heads, a.intermediate, a.rope_theta, a.rms_eps, rng)
    T = a.tokens

    x = rng.standard_normal((T, a.hidden), dtype=np.float32)
    mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), k=1)
    pre = timeit(lambda: blk.forward(x, 0, mask=mask), a.reps)

    kvd = blk.d * a.kv_heads
    # Decode at context T: T - 1 cached positions plus the new token at position T - 1.
    kc = rng.standard_normal((a.kv_heads, T, blk.d), dtype=np.float32)
    vc = rng.standard_normal((a.kv_heads, T, blk.d), dtype=np.float32)
    x1 = rng.standard_normal((1, a.hidden), dtype=np.float32)
    dec = timeit(lambda: blk.forward(x1, T - 1, kc, vc), max(a.decode_reps, a.reps))

    lin = blk.params()
    flops_pre = 2 * T * lin + 2 * 2 * a.heads * T * T * blk.d       # full T x T score and PV matmuls
    flops_dec = 2 * lin + 2 * 2 * a.heads * T * blk.d
    mp, md = statistics.median(pre), statistics.median(dec)
    out = {
        "engine": "numpy", "dtype": "f32", "threads": a.threads, "tokens": T,
        "shape": {"hidden": a.hidden, "heads": a.heads, "kv_heads": a.kv_heads, "intermediate": a.intermediate,
                  "head_dim": blk.d, "kv_dim": kvd},
        "block_params": lin,
        "prefill": {"samples_s": pre, "median_s": mp, "tok_s": T / mp, "gflops": flops_pre / mp / 1e9,
                    "stddev_tok_s": statistics.pstdev([T / t for t in pre])},
        "decode": {"context": T, "samples_s": dec, "median_s": md, "tok_s": 1.0 / md,
                   "gflops": flops_dec / md / 1e9, "weight_gb_s": lin * 4 / md / 1e9,
                   "stddev_tok_s": statistics.pstdev([1.0 / t for t in dec])},
        "blas": info,
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
