#!/usr/bin/env python3
"""Generate the golden test fixtures under Tests/Fixtures/ for adallava.

Builds a tiny, randomly initialised (seeded) LLaVA-1.5 model
(``transformers.LlavaForConditionalGeneration``) purely from configs -- nothing
is downloaded from the Hugging Face hub -- runs it in fp32 / eager attention,
and writes weights, configs, inputs and reference activations:

  Tests/Fixtures/llava-tiny-fp32/  weights as written by ``save_pretrained``
                                   (F32, single file, transformers' own layout)
  Tests/Fixtures/llava-tiny-bf16/  the same weights rounded to BF16, the other
                                   key layout, two shards + index, and a
                                   hand-written minimal config.json

How to run (CI never runs this; the outputs are committed):

    python3 -m venv /opt/golden-venv && \
    /opt/golden-venv/bin/pip install -r scripts/requirements-golden.txt && \
    /opt/golden-venv/bin/python scripts/make_golden.py

Optional argument: an output directory (default: Tests/Fixtures next to this
script's repository root).  The script is deterministic: running it twice gives
byte-identical files.  Besides HF's own outputs it checks them against an
independent re-implementation of the forward pass (``reference_forward``) and
against an uncached greedy loop, so that the fixtures document exactly the
arithmetic an engine has to reproduce.
"""

import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import load_file, save_file
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

SEED = int(os.environ.get("GOLDEN_SEED", "11"))  # 11: no EOS, every greedy top-1/top-2 gap > MIN_MARGIN
IMAGE_TOKEN = 510
N_PATCHES = 16  # (28 / 7)^2
MAX_NEW_TOKENS = 8
EOS = 2
MIN_MARGIN = 0.05

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- model


def make_config():
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        image_size=28,
        patch_size=7,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
    )
    text = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        max_position_embeddings=256,
        rope_theta=10000.0,
        rms_norm_eps=1e-5,
        bos_token_id=1,
        eos_token_id=EOS,
        pad_token_id=0,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=IMAGE_TOKEN,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        tie_word_embeddings=False,
    )


def build_model(config):
    model = LlavaForConditionalGeneration(config)
    model.set_attn_implementation("eager")
    return model.to(torch.float32).eval()


def is_norm_weight(name, model):
    mod_name, _, leaf = name.rpartition(".")
    mod = model.get_submodule(mod_name)
    return leaf == "weight" and (isinstance(mod, torch.nn.LayerNorm) or "RMSNorm" in type(mod).__name__)


@torch.no_grad()
def reinit(model):
    # Deterministic order: named_parameters() order of the module tree.
    for name, p in model.named_parameters():
        r = torch.randn(p.shape, dtype=torch.float32)
        if is_norm_weight(name, model):
            p.copy_(1.0 + 0.1 * r)
        else:  # linear/conv/embedding weights, biases, class_embedding, position embeddings
            p.copy_(0.1 * r)


# ----------------------------------------------------------------- reference impl
# Independent implementation of the LLaVA-1.5 forward pass straight from the
# state dict (modern in-memory key names).  Used only to assert that HF does what
# the README says it does.


def ref_layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def ref_rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def reference_forward(sd, cfg, input_ids, pixel_values):
    vc, tc = cfg.vision_config, cfg.text_config
    lin = lambda x, p, bias=True: x @ sd[p + ".weight"].T + (sd[p + ".bias"] if bias else 0)
    # ---- CLIP vision tower
    v = "model.vision_tower."
    ps = vc.patch_size
    img = pixel_values[0]  # [3, H, W]
    g = vc.image_size // ps
    # patches in row-major (y, x) order, each flattened as (c, ky, kx) like the conv weight
    patches = img.reshape(3, g, ps, g, ps).permute(1, 3, 0, 2, 4).reshape(g * g, 3 * ps * ps)
    pe = patches @ sd[v + "embeddings.patch_embedding.weight"].reshape(vc.hidden_size, -1).T  # conv has no bias
    h = torch.cat([sd[v + "embeddings.class_embedding"][None], pe], 0)
    h = h + sd[v + "embeddings.position_embedding.weight"]
    h = ref_layer_norm(h, sd[v + "pre_layrnorm.weight"], sd[v + "pre_layrnorm.bias"], vc.layer_norm_eps)
    vhs = [h]  # vhs[0] = input of encoder layer 0 (post pre_layrnorm)
    nh, hd = vc.num_attention_heads, vc.hidden_size // vc.num_attention_heads
    for i in range(vc.num_hidden_layers):
        p = v + f"encoder.layers.{i}."
        x = ref_layer_norm(h, sd[p + "layer_norm1.weight"], sd[p + "layer_norm1.bias"], vc.layer_norm_eps)
        q = lin(x, p + "self_attn.q_proj").reshape(-1, nh, hd).transpose(0, 1)
        k = lin(x, p + "self_attn.k_proj").reshape(-1, nh, hd).transpose(0, 1)
        vv = lin(x, p + "self_attn.v_proj").reshape(-1, nh, hd).transpose(0, 1)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ vv  # no mask
        h = h + lin(a.transpose(0, 1).reshape(-1, vc.hidden_size), p + "self_attn.out_proj")
        x = ref_layer_norm(h, sd[p + "layer_norm2.weight"], sd[p + "layer_norm2.bias"], vc.layer_norm_eps)
        x = lin(x, p + "mlp.fc1")
        x = x * torch.sigmoid(1.702 * x)  # quick_gelu
        h = h + lin(x, p + "mlp.fc2")
        vhs.append(h)
    vision_features = vhs[cfg.vision_feature_layer][1:]  # drop CLS ("default")
    # ---- projector
    x = lin(vision_features, "model.multi_modal_projector.linear_1")
    x = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))  # exact (erf) gelu
    image_features = lin(x, "model.multi_modal_projector.linear_2")
    # ---- Llama
    l = "model.language_model."
    h = sd[l + "embed_tokens.weight"][input_ids].clone()
    h[input_ids == cfg.image_token_index] = image_features  # in order
    T = h.shape[0]
    nh, nkv = tc.num_attention_heads, tc.num_key_value_heads
    hd = tc.hidden_size // nh
    theta = tc.rope_parameters["rope_theta"]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None]  # [T, hd/2]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()

    def rope(x):  # x [heads, T, hd]; NeoX/"rotate_half" pairing (i, i + hd/2)
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    mask = torch.full((T, T), float("-inf")).triu(1)
    lhs = [h]
    for i in range(tc.num_hidden_layers):
        p = l + f"layers.{i}."
        x = ref_rms_norm(h, sd[p + "input_layernorm.weight"], tc.rms_norm_eps)
        q = rope(lin(x, p + "self_attn.q_proj", False).reshape(T, nh, hd).transpose(0, 1))
        k = rope(lin(x, p + "self_attn.k_proj", False).reshape(T, nkv, hd).transpose(0, 1))
        vv = lin(x, p + "self_attn.v_proj", False).reshape(T, nkv, hd).transpose(0, 1)
        k = k.repeat_interleave(nh // nkv, 0)  # query head j uses kv head j // (nh/nkv)
        vv = vv.repeat_interleave(nh // nkv, 0)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, -1) @ vv
        h = h + lin(a.transpose(0, 1).reshape(T, -1), p + "self_attn.o_proj", False)
        x = ref_rms_norm(h, sd[p + "post_attention_layernorm.weight"], tc.rms_norm_eps)
        x = F.silu(lin(x, p + "mlp.gate_proj", False)) * lin(x, p + "mlp.up_proj", False)
        h = h + lin(x, p + "mlp.down_proj", False)
        lhs.append(h)
    last = ref_rms_norm(h, sd[l + "norm.weight"], tc.rms_norm_eps)
    logits = last @ sd["lm_head.weight"].T
    return dict(
        vision_features=vision_features,
        image_features=image_features,
        llm_hidden_layer1=lhs[1],
        llm_last_hidden=last,
        logits=logits[-1],
    )


# ----------------------------------------------------------------------- goldens


@torch.no_grad()
def compute_goldens(model, input_ids, pixel_values):
    ids = input_ids[None]
    out = model(input_ids=ids, pixel_values=pixel_values, output_hidden_states=True)
    img = model.model.get_image_features(pixel_values=pixel_values, output_hidden_states=True, return_dict=True)
    vfl = model.config.vision_feature_layer
    vision_features = img.hidden_states[vfl][0, 1:]  # CLS dropped ("default" strategy)
    image_features = torch.cat(list(img.pooler_output), 0)  # projector output
    # Same thing by hand through the submodules.
    vt = model.model.vision_tower(pixel_values, output_hidden_states=True)
    assert torch.equal(vt.hidden_states[vfl][0, 1:], vision_features)
    assert torch.equal(model.model.multi_modal_projector(vision_features), image_features)
    assert len(vt.hidden_states) == model.config.vision_config.num_hidden_layers + 1

    hs = out.hidden_states
    assert len(hs) == model.config.text_config.num_hidden_layers + 1
    logits = out.logits[0, -1]

    gen = model.generate(
        input_ids=ids,
        pixel_values=pixel_values,
        max_new_tokens=MAX_NEW_TOKENS,
        do_sample=False,
        eos_token_id=EOS,
        pad_token_id=0,
    )
    generated = gen[0, len(input_ids) :]
    assert len(generated) == MAX_NEW_TOKENS, f"generate stopped early ({generated.tolist()}); change SEED"
    assert EOS not in generated.tolist(), f"EOS among generated ids {generated.tolist()}; change SEED"
    assert generated[0].item() == int(logits.argmax()), "first generated token != argmax(logits)"

    # Uncached greedy loop: full forward over prompt + tokens so far each step.
    # Also require a clear top-1/top-2 gap at every step so that an engine whose logits differ by
    # float rounding (~1e-5) cannot legitimately pick a different token.
    seq = ids
    for step in range(MAX_NEW_TOKENS):
        lg = model(input_ids=seq, pixel_values=pixel_values).logits[0, -1]
        top2 = lg.topk(2).values
        margin = (top2[0] - top2[1]).item()
        assert margin > MIN_MARGIN, f"greedy step {step}: top-1/top-2 logit gap {margin:.4g}; change SEED"
        seq = torch.cat([seq, lg.argmax().view(1, 1)], 1)
    assert torch.equal(seq[0, len(input_ids) :], generated), "cached generate != uncached greedy loop"

    g = {
        "input_ids": input_ids.to(torch.int64).contiguous(),
        "pixel_values": pixel_values.contiguous(),
        "vision_features": vision_features.contiguous(),
        "image_features": image_features.contiguous(),
        "llm_hidden_layer1": hs[1][0].contiguous(),
        "llm_last_hidden": hs[-1][0].contiguous(),
        "logits": logits.contiguous(),
        "generated_ids": generated.to(torch.int64).contiguous(),
    }

    ref = reference_forward(model.state_dict(), model.config, input_ids, pixel_values[:1])
    for k, v in ref.items():
        err = (v - g[k]).abs().max().item()
        assert err < 1e-4, f"reference mismatch on {k}: {err}"
        if os.environ.get("GOLDEN_VERBOSE"):
            print(f"  reference vs HF max abs err {k}: {err:.3g}")
    # NB: HF's LM hidden_states are [embeddings, out(layer 0), ..., out(layer L-2), norm(out(layer L-1))]:
    # the last entry is *replaced* by the post-RMSNorm state (the reference check above confirms
    # llm_last_hidden == final RMSNorm output), the raw output of the last layer is not in the tuple.
    return g


def save_st(tensors, path, metadata=None):
    save_file(tensors, path, metadata=metadata)
    os.chmod(path, 0o644)  # safetensors creates 0600 files


def write_common(dir_, g):
    save_st(g, os.path.join(dir_, "golden.safetensors"))
    save_st({"pixel_values": g["pixel_values"]}, os.path.join(dir_, "pixels.safetensors"))
    with open(os.path.join(dir_, "input_ids.txt"), "w") as f:
        f.write(",".join(str(int(t)) for t in g["input_ids"].tolist()) + "\n")


# ------------------------------------------------------------------- key layouts

LEGACY_TO_MODERN = [  # (legacy prefix, modern prefix); order matters (most specific first)
    ("language_model.lm_head.", "lm_head."),
    ("language_model.model.", "model.language_model."),
    ("vision_tower.vision_model.", "model.vision_tower.vision_model."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
]


def in_memory_to_modern_file_key(k):
    """In-memory (transformers 5.x) name -> 'modern' checkpoint name.

    transformers 5.x's CLIPVisionModel has no `.vision_model` submodule any more; the
    modern layout written by transformers 4.5x (and the one fixture 2 uses) keeps it.
    """
    if k.startswith("model.vision_tower."):
        return "model.vision_tower.vision_model." + k[len("model.vision_tower.") :]
    return k


def json_dump(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


# ------------------------------------------------------------------- fixture 2 config

MINIMAL_CONFIG = {
    "architectures": ["LlavaForConditionalGeneration"],
    "model_type": "llava",
    "torch_dtype": "bfloat16",
    "image_token_index": IMAGE_TOKEN,  # default 32000
    "vision_config": {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "image_size": 28,  # default 224
        "patch_size": 7,  # default 32
    },
    "text_config": {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,  # default None -> num_attention_heads
        "vocab_size": 512,
        "max_position_embeddings": 256,  # default 2048
        "rms_norm_eps": 1e-05,  # default 1e-06
        "pad_token_id": 0,  # default None
    },
}

# field -> (where, default in transformers, value used by fixture 1)
OMITTED = {
    "projector_hidden_act": ("llava", "gelu"),
    "vision_feature_layer": ("llava", -2),
    "vision_feature_select_strategy": ("llava", "default"),
    "tie_word_embeddings": ("llava", False),
    "multimodal_projector_bias": ("llava", True),
    "image_seq_length": ("llava", 576),
    "vision_config.hidden_act": ("clip_vision_model", "quick_gelu"),
    "vision_config.layer_norm_eps": ("clip_vision_model", 1e-05),
    "vision_config.num_channels": ("clip_vision_model", 3),
    "text_config.rope_theta": ("llama", 10000.0),
    "text_config.hidden_act": ("llama", "silu"),
    "text_config.bos_token_id": ("llama", 1),
    "text_config.eos_token_id": ("llama", 2),
    "text_config.tie_word_embeddings": ("llama", False),
    "text_config.attention_bias": ("llama", False),
    "text_config.mlp_bias": ("llama", False),
    "text_config.head_dim": ("llama", 16),
}


def check_minimal_config(dir_, full_cfg):
    """The hand-written config must resolve (with transformers' defaults) to fixture 1's config."""
    cfg = LlavaConfig.from_pretrained(dir_)
    a, b = cfg.to_dict(), full_cfg.to_dict()
    ignore = {"dtype", "torch_dtype", "transformers_version", "architectures", "_name_or_path"}
    for sect in (None, "vision_config", "text_config"):
        x = a if sect is None else a[sect]
        y = b if sect is None else b[sect]
        for k in set(x) | set(y):
            if k in ignore or k in ("vision_config", "text_config"):
                continue
            assert x.get(k) == y.get(k), f"minimal config differs at {sect}.{k}: {x.get(k)} vs {y.get(k)}"
    # and the omitted fields really were omitted and have the documented default
    for field, (_, default) in OMITTED.items():
        sect, _, leaf = field.rpartition(".")
        raw = MINIMAL_CONFIG if not sect else MINIMAL_CONFIG[sect]
        assert leaf not in raw, field
        resolved = cfg if not sect else getattr(cfg, sect)
        val = resolved.rope_parameters["rope_theta"] if leaf == "rope_theta" else getattr(resolved, leaf)
        assert val == default, f"{field}: resolved {val} != {default}"


# ------------------------------------------------------------------------- README

README_TEMPLATE = """\
# Golden fixtures (generated -- do not edit by hand)

Everything in this directory is written by `scripts/make_golden.py`:

    python3 -m venv /opt/golden-venv && \\
    /opt/golden-venv/bin/pip install -r scripts/requirements-golden.txt && \\
    /opt/golden-venv/bin/python scripts/make_golden.py

Library versions: torch {torch}, transformers {transformers}, safetensors {safetensors},
numpy {numpy}. CPU, fp32, `attn_implementation="eager"`, eval mode,
`torch.manual_seed({seed})`, single thread. Running the script twice gives byte-identical
files. Nothing is downloaded: the model is a random
`LlavaForConditionalGeneration` built from a config.

## Model

* Vision (CLIP ViT): hidden 32, MLP 64, 3 layers, 4 heads (head_dim 8), image 28, patch 7
  -> 4x4 = 16 patches + CLS = 17 positions, `quick_gelu`, LayerNorm eps 1e-5.
* Projector: `linear_1` (32->64, bias) -> GELU (exact, erf) -> `linear_2` (64->64, bias).
* Text (Llama): hidden 64, MLP 128, 2 layers, 4 query heads / 2 KV heads (GQA, head_dim 16),
  vocab 512, RoPE theta 10000, RMSNorm eps 1e-5, bos 1, eos 2, pad 0, untied `lm_head`.
* LLaVA: `image_token_index` 510, `vision_feature_layer` -2,
  `vision_feature_select_strategy` "default" (drop CLS).
* Weights: after construction *every* parameter is re-drawn in `named_parameters()` order:
  LayerNorm/RMSNorm weights `1 + 0.1*randn`, everything else (linear/conv/embedding weights,
  biases, `class_embedding`, position embeddings) `0.1*randn`.

## Inputs (identical in both fixtures)

* `input_ids` (T = {T}): `[1] + 5 text ids + 16 x 510 + 7 text ids`; the image token is
  already expanded to one token per image feature, as the HF processor does:

      {input_ids}

  Also in `input_ids.txt` (comma-separated, one line) for `--tokens`.
* `pixel_values` [1,3,28,28] F32 `randn` (already "preprocessed"; no CLIP normalisation is
  applied by the model). Also alone in `pixels.safetensors` for `--pixels`.

## `golden.safetensors`

| name | shape | dtype | meaning |
|---|---|---|---|
| `input_ids` | [{T}] | I64 | prompt |
| `pixel_values` | [1,3,28,28] | F32 | image |
| `vision_features` | [16,32] | F32 | CLIP `hidden_states[-2]`, CLS row dropped, before the projector |
| `image_features` | [16,64] | F32 | projector output (what replaces the 16 image-token embeddings) |
| `llm_hidden_layer1` | [{T},64] | F32 | LM `hidden_states[1]` = residual stream after decoder layer 0 |
| `llm_last_hidden` | [{T},64] | F32 | LM final hidden state, *after* the final RMSNorm |
| `logits` | [512] | F32 | logits at the last prompt position (first generated token) |
| `generated_ids` | [8] | I64 | greedy `generate(max_new_tokens=8)`, new tokens only |

Generated ids: fp32 fixture `{gen1}`, bf16 fixture `{gen2}` (no EOS; at every greedy step the
top-1/top-2 logit gap is > {margin}, so fp32 rounding differences cannot flip a token).
Max |logits(fp32) - logits(bf16)| = {dlogits:.4g}.

All goldens are checked by the script against HF's forward, against an uncached greedy loop
(full forward each step), and against an independent re-implementation of the forward pass
(`reference_forward`, agreement < 1e-4, in practice ~1e-6). An fp32 engine should match
them to ~1e-4.

## `llava-tiny-fp32/` -- F32, single file, written by `save_pretrained`

`config.json` and `model.safetensors` are exactly what
`model.save_pretrained(dir, safe_serialization=True)` writes in transformers {transformers}
(`generation_config.json` is not kept). Total {size1} bytes of weights, {n1} tensors.

Key layout: transformers 5.x *reverts* its load-time renames on save, so the file uses the
**legacy LLaVA prefixes** for the language model and projector -- but the CLIP tower is saved
**without** the `vision_model.` level:

    language_model.model.embed_tokens.weight
    language_model.model.layers.N.{{self_attn.{{q,k,v,o}}_proj,mlp.{{gate,up,down}}_proj,input_layernorm,post_attention_layernorm}}.weight
    language_model.model.norm.weight
    language_model.lm_head.weight
    multi_modal_projector.linear_{{1,2}}.{{weight,bias}}
    vision_tower.embeddings.{{class_embedding,patch_embedding.weight,position_embedding.weight}}
    vision_tower.pre_layrnorm.{{weight,bias}}
    vision_tower.encoder.layers.N.{{self_attn.{{q,k,v,out}}_proj,layer_norm1,mlp.fc1,mlp.fc2,layer_norm2}}.{{weight,bias}}
    vision_tower.post_layernorm.{{weight,bias}}

(The released llava-hf checkpoints use `vision_tower.vision_model.*` with the same legacy
prefixes; an engine should accept the vision tower with or without `vision_model.`.)
`patch_embedding.weight` is [32,3,7,7] (conv, no bias); `class_embedding` is [32].
`config.json` is transformers-5 style: RoPE theta lives in
`text_config.rope_parameters = {{"rope_theta": 10000.0, "rope_type": "default"}}` (there is no
top-level `rope_theta`), `"dtype"` replaces `"torch_dtype"`, and `head_dim` is written out.

## `llava-tiny-bf16/` -- BF16, modern layout, 2 shards, minimal config

* Weights = the fixture-1 tensors rounded to bfloat16 (round-to-nearest-even), stored as BF16.
* Goldens were computed by running those bf16-rounded weights *in fp32* (state dict cast
  back to float32, same inputs), so an engine that converts BF16->F32 on load must match
  them to ~1e-4.
* Key layout: the **modern** one, with the `vision_model.` level (as transformers 4.5x saved
  it): `model.language_model.layers.N...`, `model.language_model.embed_tokens.weight`,
  `model.language_model.norm.weight`, `lm_head.weight`,
  `model.vision_tower.vision_model.{{embeddings,pre_layrnorm,encoder,post_layernorm}}...`,
  `model.multi_modal_projector.linear_{{1,2}}...`.
* Sharded: `model-00001-of-00002.safetensors` ({n_s1} tensors), `model-00002-of-00002.safetensors`
  ({n_s2} tensors), and `model.safetensors.index.json`
  `{{"metadata": {{"total_size": {total}}}, "weight_map": {{name: file}}}}` (total_size = sum of tensor
  data bytes). Keys are split in sorted order; the first shard holds
  `{first_s1}` .. `{last_s1}`.
* HF loads this directory (`from_pretrained(..., dtype=float32)`) to exactly the bf16-rounded
  weights and reproduces these goldens (checked by the script).
* `config.json` is hand-written and minimal. It keeps the `model_type`s
  (`llava`, `clip_vision_model`, `llama`), uses the legacy key `"torch_dtype": "bfloat16"`, has
  no `rope_parameters`/`rope_theta`, and omits every field whose transformers default equals
  the value used here. The script checks that it resolves to the same config as fixture 1.

  Omitted (default in transformers {transformers} = value used):

{omitted}

  Kept because the transformers default differs: `image_token_index` (default 32000),
  vision `image_size` (224) and `patch_size` (32), text `max_position_embeddings` (2048),
  `rms_norm_eps` (**1e-6**), `pad_token_id` (None), `num_key_value_heads` (None ->
  num_attention_heads, i.e. no GQA), and all sizes (`hidden_size`, `intermediate_size`,
  `num_hidden_layers`, `num_attention_heads`, `vocab_size`).
  Note: when `vision_config` is present but partial, the missing fields take
  `CLIPVisionConfig`'s defaults (hidden 768, patch 32, image 224, ...), *not* the
  LLaVA-1.5 values LlavaConfig uses when `vision_config` is absent altogether.

## HF semantics these goldens pin down

* CLIP `hidden_states` has `num_layers + 1` entries: `[0]` = embeddings (CLS ++ patch conv,
  + position embeddings) after `pre_layrnorm`; `[i]` = output of encoder layer `i-1`.
  So `vision_feature_layer = -2` = output of the second-to-last layer: only `L-1` of the `L`
  layers are used, and `post_layernorm` is *not* applied (it only touches the pooled CLS).
  Then the CLS row is dropped. Patches are ordered row-major over the (y, x) grid.
* CLIP layer: pre-LN (`layer_norm1` -> attention with q/k/v/out biases, no mask,
  scale 1/sqrt(head_dim) -> residual; `layer_norm2` -> fc1 -> quick_gelu
  `x*sigmoid(1.702x)` -> fc2 -> residual). LayerNorm eps 1e-5.
* The number of image tokens in `input_ids` must equal the number of image features
  (HF raises otherwise). Features are scattered, in order, into the positions holding
  token 510; the embedding row of token 510 is never used. RoPE positions run 0..T-1 over
  the expanded sequence (image tokens included).
* `image_seq_length` is 576 in both configs (a LlavaConfig/processor default, written by
  `save_pretrained`) although this model has 16 image features: derive the feature count
  from `(image_size / patch_size)^2`, not from `image_seq_length`.
* Llama: RMSNorm `x * rsqrt(mean(x^2) + eps) * w` (eps 1e-5 here), RoPE "rotate_half"/NeoX
  pairing (dim i with i + head_dim/2), `inv_freq[i] = theta^(-2i/head_dim)`, angle =
  pos * inv_freq; GQA: query head j uses KV head `j // (n_heads / n_kv_heads)`; scale
  1/sqrt(head_dim), causal mask; MLP `down(silu(gate(x)) * up(x))`; no biases anywhere.
* LM `hidden_states` = `[embeddings, out(layer 0), ..., norm(out(last layer))]`: the last
  entry is *replaced* by the post-RMSNorm state; the raw output of the last decoder layer is
  not in the tuple. `llm_hidden_layer1` is the un-normed residual stream after layer 0.
* Greedy `generate` with KV cache gives the same tokens as an uncached argmax loop.
"""


def write_readme(out_root, info):
    derived = {"text_config.head_dim": " (default `null`, derived as hidden_size / num_attention_heads)"}
    omitted = "\n".join(
        f"  * `{f}` ({where}): `{json.dumps(dflt)}`{derived.get(f, '')}" for f, (where, dflt) in OMITTED.items()
    )
    with open(os.path.join(out_root, "README.md"), "w") as f:
        f.write(README_TEMPLATE.format(omitted=omitted, **info))


# ------------------------------------------------------------------------- main


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO_ROOT, "Tests", "Fixtures")
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    config = make_config()
    model = build_model(config)
    reinit(model)

    text_ids = torch.randint(3, 500, (12,), dtype=torch.int64)
    input_ids = torch.cat(
        [torch.tensor([1]), text_ids[:5], torch.full((N_PATCHES,), IMAGE_TOKEN), text_ids[5:]]
    ).to(torch.int64)
    pixel_values = torch.randn(1, 3, 28, 28, dtype=torch.float32)

    # ---------------- fixture 1: fp32, save_pretrained
    d1 = os.path.join(out_root, "llava-tiny-fp32")
    shutil.rmtree(d1, ignore_errors=True)
    os.makedirs(d1)
    g1 = compute_goldens(model, input_ids, pixel_values)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        for fn in ("config.json", "model.safetensors"):
            shutil.copyfile(os.path.join(tmp, fn), os.path.join(d1, fn))
    write_common(d1, g1)
    # reload check
    re1 = LlavaForConditionalGeneration.from_pretrained(d1, attn_implementation="eager", dtype=torch.float32).eval()
    for k, v in model.state_dict().items():
        assert torch.equal(re1.state_dict()[k], v), k
    file_keys = sorted(load_file(os.path.join(d1, "model.safetensors")).keys())

    # ---------------- fixture 2: bf16, other layout, sharded, minimal config
    d2 = os.path.join(out_root, "llava-tiny-bf16")
    shutil.rmtree(d2, ignore_errors=True)
    os.makedirs(d2)
    sd16 = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    model2 = build_model(config)
    model2.load_state_dict({k: v.to(torch.float32) for k, v in sd16.items()}, strict=True)
    model2.eval()
    g2 = compute_goldens(model2, input_ids, pixel_values)
    assert torch.equal(g1["input_ids"], g2["input_ids"]) and torch.equal(g1["pixel_values"], g2["pixel_values"])

    fixture1_is_legacy = any(k.startswith("language_model.") for k in file_keys)
    if fixture1_is_legacy:
        sd_file = {in_memory_to_modern_file_key(k): v for k, v in sd16.items()}
    else:  # fixture 1 is modern -> write legacy
        sd_file = {}
        for k, v in sd16.items():
            k = in_memory_to_modern_file_key(k)
            for leg, mod in LEGACY_TO_MODERN:
                if k.startswith(mod):
                    k = leg + k[len(mod) :]
                    break
            sd_file[k] = v
    names = sorted(sd_file)
    nbytes = {k: sd_file[k].numel() * sd_file[k].element_size() for k in names}
    total = sum(nbytes.values())
    shard1, acc = [], 0
    for k in names:
        if acc >= total / 2:
            break
        shard1.append(k)
        acc += nbytes[k]
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    s1 = set(shard1)
    save_st({k: sd_file[k] for k in names if k in s1}, os.path.join(d2, files[0]), metadata={"format": "pt"})
    save_st({k: sd_file[k] for k in names if k not in s1}, os.path.join(d2, files[1]), metadata={"format": "pt"})
    json_dump(
        {"metadata": {"total_size": total}, "weight_map": {k: files[0] if k in s1 else files[1] for k in names}},
        os.path.join(d2, "model.safetensors.index.json"),
    )
    json_dump(MINIMAL_CONFIG, os.path.join(d2, "config.json"))
    write_common(d2, g2)

    check_minimal_config(d2, config)
    # HF itself must load fixture 2 to exactly the bf16-rounded weights and reproduce its goldens.
    re2 = LlavaForConditionalGeneration.from_pretrained(d2, attn_implementation="eager", dtype=torch.float32).eval()
    sd_re2 = re2.state_dict()
    for k, v in sd16.items():
        assert torch.equal(sd_re2[k], v.to(torch.float32)), f"fixture-2 reload mismatch: {k}"
    g2re = compute_goldens(re2, input_ids, pixel_values)
    for k in g2:
        assert torch.allclose(g2re[k].to(torch.float64), g2[k].to(torch.float64), atol=1e-6), k
    # BF16 rounding must actually change things (otherwise fixture 2 tests nothing new)
    assert not torch.equal(g1["logits"], g2["logits"])

    info = dict(
        torch=torch.__version__.split("+")[0],
        transformers=transformers.__version__,
        safetensors=safetensors.__version__,
        numpy=np.__version__,
        seed=SEED,
        T=len(input_ids),
        input_ids=",".join(map(str, input_ids.tolist())),
        gen1=g1["generated_ids"].tolist(),
        gen2=g2["generated_ids"].tolist(),
        margin=MIN_MARGIN,
        dlogits=(g1["logits"] - g2["logits"]).abs().max().item(),
        size1=os.path.getsize(os.path.join(d1, "model.safetensors")),
        n1=len(file_keys),
        n_s1=len(shard1),
        n_s2=len(names) - len(shard1),
        total=total,
        first_s1=shard1[0],
        last_s1=shard1[-1],
    )
    write_readme(out_root, info)

    print("versions: torch", torch.__version__, "transformers", transformers.__version__,
          "safetensors", safetensors.__version__, "numpy", np.__version__)
    print("fixture-1 key layout:", "legacy" if fixture1_is_legacy else "modern", "e.g.", file_keys[:3], "...")
    print("fixture-2 key layout:", "modern" if fixture1_is_legacy else "legacy", "e.g.", names[:3], "...")
    print("input_ids:", ",".join(map(str, input_ids.tolist())))
    print("fp32 generated_ids:", g1["generated_ids"].tolist())
    print("bf16 generated_ids:", g2["generated_ids"].tolist())
    print("max |logits fp32 - bf16|:", (g1["logits"] - g2["logits"]).abs().max().item())


if __name__ == "__main__":
    main()
