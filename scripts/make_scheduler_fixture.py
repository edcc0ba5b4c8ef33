#!/usr/bin/env python3
"""Reference fixture for AdaLLaVA's latency encoder and scheduler (module AdaptiveInference).

An independent numpy (float64) implementation of what the authors' code does at inference
(Jav1Star/AdaLLaVA-X, src/adallava/model/scheduler/simple_scheduler.py, scheduler_utils.py):

  budget b in [0, 1]
    -> units = max(0, floor(total * b) - prefix)          (latency_quantizing)
    -> value = units / (total - prefix + 1)
    -> s = value * 2 * pi ; f_i = 1 / 10000^(i / 128), i = 0..127
    -> e = concat(sin(s * f), cos(s * f))                  256-d, sin first
    -> LayerNorm(256, eps 1e-5) -> Linear(256 -> H) -> GELU (exact, erf) -> Linear(H -> H)
       = the latency token, one row of the LLM's hidden size
  hidden state of the latency token -> Linear(H -> knobs, bias) -> logits
    -> k = units picks, each the largest logit not yet picked (lowest index on ties)

Writes Tests/Fixtures/scheduler/scheduler_fixture.json (see the README there).  Runs with
the system python3 and numpy only; deterministic (same bytes on every run).

    python3 scripts/make_scheduler_fixture.py [OUT_DIR] [--check-torch]

--check-torch additionally rebuilds the authors' module structure in torch (if importable,
e.g. /opt/golden-venv/bin/python) and checks this reference against it.
"""

import json
import math
import os
import sys

import numpy as np

SEED = 20250314
HIDDEN = 64
FREQUENCIES = 128
EMBED = 2 * FREQUENCIES
LN_EPS = 1e-5
# Weights are small integers times a power of two: exact in fp32 and short in JSON.
WEIGHT_SCALE = 2.0 ** -6
INT_RANGE = 9
BUDGETS = [1.0, 0.85, 0.75, 0.6, 0.5, 0.0]
# (knobs, total units, prefix units): the L formula for a 32-layer model with 16 prefix
# layers, and the same formula for a 16-layer model with 8 prefix layers.
CASES = [(16, 32, 16), (8, 16, 8)]
# Names as in the authors' state dict (the scheduler is `self.scheduler` on the
# *ForCausalLM root, FeedForward.net = Sequential(LayerNorm, Linear, GELU, Linear)).
LN_W = "scheduler.scheduler_up_proj.net.0.weight"
LN_B = "scheduler.scheduler_up_proj.net.0.bias"
FC1_W = "scheduler.scheduler_up_proj.net.1.weight"
FC1_B = "scheduler.scheduler_up_proj.net.1.bias"
FC2_W = "scheduler.scheduler_up_proj.net.3.weight"
FC2_B = "scheduler.scheduler_up_proj.net.3.bias"
HEAD_W = "scheduler.mlp_head.weight"
HEAD_B = "scheduler.mlp_head.bias"


# ---------------------------------------------------------------- reference maths (float64)

def quantise(budget, total, prefix):
    if not (0.0 <= budget <= 1.0):
        raise ValueError("budget must be in [0, 1]")
    units = max(0, math.floor(total * budget) - prefix)
    return units, units / (total - prefix + 1)


def sinusoidal(value):
    scaled = value * 2.0 * math.pi
    freqs = 1.0 / (10000.0 ** (np.arange(FREQUENCIES, dtype=np.float64) / FREQUENCIES))
    args = scaled * freqs
    return np.concatenate([np.sin(args), np.cos(args)])


def layer_norm(x, w, b, eps=LN_EPS):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # biased, as torch
    return (x - mean) / np.sqrt(var + eps) * w + b


def fc(x, w, b):
    return x @ w.T + b  # torch nn.Linear layout: w is [out, in]


def gelu_exact(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def latency_token(value, p):
    e = sinusoidal(value)
    h = layer_norm(e, p[LN_W], p[LN_B])
    h = gelu_exact(fc(h, p[FC1_W], p[FC1_B]))
    return fc(h, p[FC2_W], p[FC2_B])


def sequential_topk(logits, k):
    """k masked argmaxes; np.argmax returns the first maximum -> lowest index on ties."""
    k = max(0, min(int(k), len(logits)))
    masked = np.array(logits, dtype=np.float64)
    picks = []
    for _ in range(k):
        i = int(np.argmax(masked))
        picks.append(i)
        masked[i] = -np.inf
    return picks


# ---------------------------------------------------------------- data

def int_tensor(rng, shape, centre=0):
    return rng.integers(-INT_RANGE, INT_RANGE + 1, size=shape) + centre


def as_weights(ints):
    return {name: q.astype(np.float64) * WEIGHT_SCALE for name, q in ints.items()}


def f9(x):
    """9 significant digits: float32 round-trips, short JSON."""
    return float("%.9g" % x)


def floats(a):
    return [f9(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def build():
    rng = np.random.default_rng(SEED)
    one = round(1.0 / WEIGHT_SCALE)
    enc_ints = {
        LN_W: int_tensor(rng, (EMBED,), centre=one),
        LN_B: int_tensor(rng, (EMBED,)),
        FC1_W: int_tensor(rng, (HIDDEN, EMBED)),
        FC1_B: int_tensor(rng, (HIDDEN,)),
        FC2_W: int_tensor(rng, (HIDDEN, HIDDEN)),
        FC2_B: int_tensor(rng, (HIDDEN,)),
    }
    enc = as_weights(enc_ints)
    out = {
        "format": "adallava-scheduler-fixture-v1",
        "generator": "scripts/make_scheduler_fixture.py",
        "seed": SEED,
        "hidden": HIDDEN,
        "frequencies": FREQUENCIES,
        "layerNormEps": LN_EPS,
        "weightScale": WEIGHT_SCALE,
        "encoder": {n: {"shape": list(q.shape), "ints": [int(v) for v in q.ravel()]}
                    for n, q in enc_ints.items()},
        "cases": [],
    }
    for ci, (knobs, total, prefix) in enumerate(CASES):
        head_ints = {HEAD_W: int_tensor(rng, (knobs, HIDDEN)), HEAD_B: int_tensor(rng, (knobs,))}
        head = as_weights(head_ints)
        # A random hidden state, exactly representable in fp32.
        hs = rng.standard_normal(HIDDEN).astype(np.float32).astype(np.float64)
        logits = fc(hs, head[HEAD_W], head[HEAD_B])
        gaps = np.diff(np.sort(logits))
        assert gaps.min() > 1e-3, "logits too close for an fp32 engine to order them like fp64"
        budgets = []
        for b in BUDGETS:
            units, value = quantise(b, total, prefix)
            entry = {"budget": b, "units": units, "value": f9(value),
                     "latencyToken": floats(latency_token(value, enc)),
                     "planTopK": sequential_topk(logits, units)}
            if ci == 0:  # the embedding depends only on the value; store it once per value
                entry["embedding"] = floats(sinusoidal(value))
            budgets.append(entry)
        out["cases"].append({
            "knobs": knobs, "totalUnits": total, "prefixUnits": prefix,
            "head": {n: {"shape": list(q.shape), "ints": [int(v) for v in q.ravel()]}
                     for n, q in head_ints.items()},
            "hiddenState": [float(np.float32(v)) for v in hs],
            "logits": floats(logits),
            "topK": [sequential_topk(logits, k) for k in range(knobs + 1)],
            "budgets": budgets,
        })
    ties = [0.5, 2.0, -1.0, 2.0, 0.5, 2.0, -3.0, 0.5]
    out["ties"] = {"logits": ties, "topK": [sequential_topk(ties, k) for k in range(len(ties) + 1)]}
    return out, enc


def check_torch(fixture, enc):
    """Rebuild the authors' modules in torch and compare (optional; needs torch)."""
    import torch
    import torch.nn as nn

    torch.set_default_dtype(torch.float64)
    torch.set_grad_enabled(False)
    up = nn.Sequential(nn.LayerNorm(EMBED), nn.Linear(EMBED, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, HIDDEN))
    sd = {k.replace("scheduler.scheduler_up_proj.net.", ""): torch.tensor(v) for k, v in enc.items()}
    up.load_state_dict(sd)
    worst = 0.0
    for case in fixture["cases"]:
        total, prefix = case["totalUnits"], case["prefixUnits"]
        head = nn.Linear(HIDDEN, case["knobs"])
        head.load_state_dict({
            "weight": torch.tensor(np.array(case["head"][HEAD_W]["ints"], dtype=np.float64)
                                   .reshape(case["head"][HEAD_W]["shape"]) * WEIGHT_SCALE),
            "bias": torch.tensor(np.array(case["head"][HEAD_B]["ints"], dtype=np.float64) * WEIGHT_SCALE)})
        logits = head(torch.tensor(case["hiddenState"]))
        worst = max(worst, float((logits - torch.tensor(case["logits"])).abs().max()))
        for k, picks in enumerate(case["topK"]):
            assert torch.topk(logits, k).indices.tolist() == picks
        for entry in case["budgets"]:
            lat = torch.tensor([entry["budget"]])
            units = torch.relu(torch.floor(total * lat) - prefix)
            assert int(units) == entry["units"]
            value = units / (total - prefix + 1)
            s = value * 2 * torch.pi
            fr = 1 / (10000 ** (torch.arange(128) / 128))
            emb = torch.cat((torch.sin(s[:, None] * fr), torch.cos(s[:, None] * fr)), dim=1)
            tok = up(emb)[0]
            worst = max(worst, float((tok - torch.tensor(entry["latencyToken"])).abs().max()))
            if "embedding" in entry:
                worst = max(worst, float((emb[0] - torch.tensor(entry["embedding"])).abs().max()))
    assert worst < 1e-7, worst
    print("torch cross-check: max |diff| = %.3g" % worst)


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = args[0] if args else os.path.join(root, "Tests", "Fixtures", "scheduler")
    fixture, enc = build()
    if "--check-torch" in argv:
        check_torch(fixture, enc)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "scheduler_fixture.json")
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main(sys.argv[1:])
