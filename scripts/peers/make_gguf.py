#!/usr/bin/env python3
"""Write a llama-architecture GGUF with random weights (N(0,1) * 0.02) and LLaMA-7B block shapes.

Only a few layers (default 4), so llama.cpp can load and benchmark it on a 24 GiB machine. The
tokenizer is a fake SentencePiece-style ("llama") vocab: <unk>, <s>, </s>, the 256 byte tokens and
filler pieces up to --vocab. Tensors are generated and written one at a time (the writer only
holds tensor infos up front), so peak memory is about one tensor (token_embd: 0.5 GB in F32).

Layout follows what llama.cpp's `llama` architecture loads (gguf-py names, numpy shapes are the
reverse of ggml's ne[]): token_embd [vocab, hidden], blk.N.{attn_norm, attn_q, attn_k, attn_v,
attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm, output [vocab, hidden]. Norm
weights are ones and stay F32 in the BF16 file, as llama.cpp's converter keeps 1-D tensors F32.

    python3 make_gguf.py --out /tmp/peers-work/models/rand-7b-4l-f32.gguf --dtype f32
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover - run_peers.sh installs it
    sys.exit("make_gguf.py needs the gguf package: pip install gguf")


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16, returned as uint16 bit patterns."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (rounded >> np.uint32(16)).astype(np.uint16)


def fake_vocab(n_vocab: int):
    tokens: list[bytes] = [b"<unk>", b"<s>", b"</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>".encode())
        types.append(gguf.TokenType.BYTE)
    i = 0
    while len(tokens) < n_vocab:
        tokens.append(f"\u2581tok{i}".encode())
        types.append(gguf.TokenType.NORMAL)
        i += 1
    scores = [0.0] * 3 + [0.0] * 256 + [-float(k) for k in range(n_vocab - 259)]
    return tokens[:n_vocab], scores[:n_vocab], [int(t) for t in types[:n_vocab]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=4096)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=32)
    p.add_argument("--intermediate", type=int, default=11008)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--context", type=int, default=4096)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--rms-eps", type=float, default=1e-5)
    p.add_argument("--std", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    if a.hidden % a.heads or a.heads % a.kv_heads:
        sys.exit("hidden must divide by heads, heads by kv-heads")
    head_dim = a.hidden // a.heads
    kv_dim = head_dim * a.kv_heads
    bf16 = a.dtype == "bf16"

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".partial"
    w = gguf.GGUFWriter(tmp, "llama")
    w.add_name(f"random LLaMA-7B shapes, {a.layers} layers, {a.dtype}")
    w.add_vocab_size(a.vocab)
    w.add_context_length(a.context)
    w.add_embedding_length(a.hidden)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.intermediate)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(a.rope_theta)
    w.add_layer_norm_rms_eps(a.rms_eps)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if bf16 else gguf.LlamaFileType.ALL_F32)

    tokens, scores, types = fake_vocab(a.vocab)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    # (name, numpy shape, is_norm). numpy shape = reversed ggml ne: linear weights are [out, in].
    specs: list[tuple[str, tuple[int, ...], bool]] = [("token_embd.weight", (a.vocab, a.hidden), False)]
    for i in range(a.layers):
        b = f"blk.{i}."
        specs += [
            (b + "attn_norm.weight", (a.hidden,), True),
            (b + "attn_q.weight", (a.hidden, a.hidden), False),
            (b + "attn_k.weight", (kv_dim, a.hidden), False),
            (b + "attn_v.weight", (kv_dim, a.hidden), False),
            (b + "attn_output.weight", (a.hidden, a.hidden), False),
            (b + "ffn_norm.weight", (a.hidden,), True),
            (b + "ffn_gate.weight", (a.intermediate, a.hidden), False),
            (b + "ffn_up.weight", (a.intermediate, a.hidden), False),
            (b + "ffn_down.weight", (a.hidden, a.intermediate), False),
        ]
    specs += [("output_norm.weight", (a.hidden,), True), ("output.weight", (a.vocab, a.hidden), False)]

    for name, shape, is_norm in specs:
        n = int(np.prod(shape))
        if is_norm or not bf16:
            w.add_tensor_info(name, shape, np.dtype(np.float32), n * 4)
        else:
            w.add_tensor_info(name, shape, np.dtype(np.uint16), n * 2, raw_dtype=gguf.GGMLQuantizationType.BF16)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()

    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    total = 0
    for name, shape, is_norm in specs:
        if is_norm:
            t = np.ones(shape, dtype=np.float32)
        else:
            t = rng.standard_normal(shape, dtype=np.float32)
            t *= np.float32(a.std)
            if bf16:
                t = f32_to_bf16_bits(t)
        w.write_tensor_data(t)
        total += t.nbytes
        del t
    w.close()
    os.replace(tmp, a.out)
    n_params = sum(int(np.prod(s)) for _, s, _ in specs)
    print(f"wrote {a.out}: {a.dtype}, {a.layers} layers, {n_params / 1e9:.3f} B params, "
          f"{total / 2**30:.2f} GiB of tensor data in {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
