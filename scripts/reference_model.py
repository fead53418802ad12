#!/usr/bin/env python3
"""An independent double-precision reference of the model families LinguaLinked runs.

Written from the families' public descriptions (GPT-2, BLOOM, LLaMA, Qwen2, Phi-3, Falcon
papers and model cards, and the GGUF tensor naming), not from the C++ executor: it recomputes
the whole sequence at every step (no KV cache), in float64, with numpy.

usage: reference_model.py MODEL.gguf --prompt-ids 1,5,9 -n 32
prints JSON: {"tokens": [greedy ids], "logits": [[n_vocab floats] per generated token]}
Only F32 and F16 tensors are read (the tests' synthetic models are F32).
"""
import argparse
import json
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("numpy is missing (Debian: python3-numpy)", file=sys.stderr)
    sys.exit(77)


# ---- a minimal GGUF reader (v2/v3)

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
          11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.d = data
        self.o = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.d[self.o:self.o + n].decode("utf-8", errors="replace")
        self.o += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et = self.take("<I")
            n = self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF":
        raise SystemExit(f"{path}: not a GGUF file")
    r.o = 4
    version = r.take("<I")
    if version not in (2, 3):
        raise SystemExit(f"{path}: GGUF version {version} is not supported")
    n_tensors = r.take("<Q")
    n_kv = r.take("<Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.take("<I")
        ne = [r.take("<Q") for _ in range(n_dims)]
        ggml_type = r.take("<I")
        offset = r.take("<Q")
        infos.append((name, ne, ggml_type, offset))
    align = meta.get("general.alignment", 32)
    base = (r.o + align - 1) // align * align
    tensors = {}
    for name, ne, ggml_type, offset in infos:
        count = int(np.prod(ne))
        if ggml_type == 0:
            a = np.frombuffer(data, dtype="<f4", count=count, offset=base + offset)
        elif ggml_type == 1:
            a = np.frombuffer(data, dtype="<f2", count=count, offset=base + offset)
        else:
            raise SystemExit(f"{name}: ggml type {ggml_type} is not supported by the reference")
        # GGUF lists dimensions fastest first: ne[0] is the row length.
        tensors[name] = a.astype(np.float64).reshape(list(reversed(ne)))
    return meta, tensors


# ---- the building blocks, as the papers define them

def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


def silu(x):
    return x / (1.0 + np.exp(-x))


def linear(x, t, name, bias=False):
    y = x @ t[name + ".weight"].T
    if bias:
        y = y + t[name + ".bias"]
    return y


def rotate(x, n_rot, base, neox, scale=1.0, divisors=None):
    """x: [T][heads][head_dim]; rotary position embedding (RoFormer) of the first n_rot dims.
    GGUF llama files rotate adjacent pairs; NeoX-style models pair dim i with i + n_rot/2.
    Linear scaling divides positions by the factor (scale = 1/factor); llama 3.1 files divide
    each frequency by its rope_freqs.weight entry."""
    T = x.shape[0]
    half = n_rot // 2
    inv = base ** (-2.0 * np.arange(half) / n_rot)
    if divisors is not None:
        inv = inv / divisors
    ang = (np.arange(T) * scale)[:, None] * inv[None, :]  # [T][half]
    c = np.cos(ang)[:, None, :]
    s = np.sin(ang)[:, None, :]
    y = x.copy()
    if neox:
        a, b = x[..., :half], x[..., half:n_rot]
        y[..., :half] = a * c - b * s
        y[..., half:n_rot] = a * s + b * c
    else:
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        y[..., 0:n_rot:2] = a * c - b * s
        y[..., 1:n_rot:2] = a * s + b * c
    return y


def alibi_slopes(n_head):
    """ALiBi (Press et al.): a geometric sequence starting at 2^(-8/n); for a head count that is
    not a power of two, the slopes of the nearest lower power of two, then every other slope of
    twice that many heads."""
    def pow2(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]
    n2 = 1
    while n2 * 2 <= n_head:
        n2 *= 2
    s = pow2(n2)
    if n2 < n_head:
        s += pow2(2 * n2)[0::2][: n_head - n2]
    return np.array(s)


def attention(q, k, v, n_head, n_head_kv, slopes=None):
    """q: [T][n_head][d], k, v: [T][n_head_kv][d]; causal softmax attention, heads grouped."""
    T, _, d = q.shape
    group = n_head // n_head_kv
    out = np.zeros_like(q)
    causal = np.triu(np.full((T, T), -np.inf), 1)
    dist = np.arange(T)[None, :] - np.arange(T)[:, None]  # key j - query i
    for h in range(n_head):
        g = h // group
        s = q[:, h, :] @ k[:, g, :].T / np.sqrt(d) + causal
        if slopes is not None:
            s = s + slopes[h] * dist
        s = s - s.max(axis=-1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=-1, keepdims=True)
        out[:, h, :] = p @ v[:, g, :]
    return out


# ---- the families

class HP:
    def __init__(self, meta, t):
        a = meta["general.architecture"]
        self.arch = a
        self.n_embd = meta[a + ".embedding_length"]
        self.n_layer = meta[a + ".block_count"]
        self.n_head = meta[a + ".attention.head_count"]
        self.n_head_kv = meta.get(a + ".attention.head_count_kv", self.n_head)
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = meta.get(a + ".rope.dimension_count", self.head_dim)
        self.base = meta.get(a + ".rope.freq_base", 10000.0)
        self.eps = meta.get(a + ".attention.layer_norm_rms_epsilon",
                            meta.get(a + ".attention.layer_norm_epsilon", 1e-5))
        self.head = "output.weight" if "output.weight" in t else "token_embd.weight"
        self.rope_scale = 1.0
        if meta.get(a + ".rope.scaling.type", "") == "linear":
            self.rope_scale = 1.0 / meta[a + ".rope.scaling.factor"]
        self.rope_divisors = t.get("rope_freqs.weight")


def split_qkv(qkv, hp):
    nq = hp.n_head * hp.head_dim
    nkv = hp.n_head_kv * hp.head_dim
    T = qkv.shape[0]
    q = qkv[:, :nq].reshape(T, hp.n_head, hp.head_dim)
    k = qkv[:, nq:nq + nkv].reshape(T, hp.n_head_kv, hp.head_dim)
    v = qkv[:, nq + nkv:].reshape(T, hp.n_head_kv, hp.head_dim)
    return q, k, v


def attn_block(h, t, p, hp, fused, qkv_bias, out_bias, rope=None, slopes=None):
    T = h.shape[0]
    if fused:
        q, k, v = split_qkv(linear(h, t, p + "attn_qkv", qkv_bias), hp)
    else:
        q = linear(h, t, p + "attn_q", qkv_bias).reshape(T, hp.n_head, hp.head_dim)
        k = linear(h, t, p + "attn_k", qkv_bias).reshape(T, hp.n_head_kv, hp.head_dim)
        v = linear(h, t, p + "attn_v", qkv_bias).reshape(T, hp.n_head_kv, hp.head_dim)
    if rope is not None:
        for_rope = dict(neox=rope == "neox", scale=hp.rope_scale, divisors=hp.rope_divisors)
        q = rotate(q, hp.n_rot, hp.base, **for_rope)
        k = rotate(k, hp.n_rot, hp.base, **for_rope)
    a = attention(q, k, v, hp.n_head, hp.n_head_kv, slopes).reshape(T, -1)
    return linear(a, t, p + "attn_output", out_bias)


def ln(x, t, name, hp):
    return layer_norm(x, t[name + ".weight"], t[name + ".bias"], hp.eps)


def rms(x, t, name, hp):
    return rms_norm(x, t[name + ".weight"], hp.eps)


def forward(hp, t, ids):
    """Logits of every position: [T][n_vocab]."""
    x = t["token_embd.weight"][ids]
    a = hp.arch
    if a == "gpt2":
        x = x + t["position_embd.weight"][: len(ids)]
    if a == "bloom":
        x = ln(x, t, "token_embd_norm", hp)
    slopes = alibi_slopes(hp.n_head) if a == "bloom" else None
    for l in range(hp.n_layer):
        p = f"blk.{l}."
        if a in ("llama", "qwen2"):
            h = rms(x, t, p + "attn_norm", hp)
            rope = "normal" if a == "llama" else "neox"
            x = x + attn_block(h, t, p, hp, False, a == "qwen2", False, rope=rope)
            h = rms(x, t, p + "ffn_norm", hp)
            x = x + linear(silu(linear(h, t, p + "ffn_gate")) * linear(h, t, p + "ffn_up"), t,
                           p + "ffn_down")
        elif a in ("gpt2", "bloom"):
            h = ln(x, t, p + "attn_norm", hp)
            x = x + attn_block(h, t, p, hp, True, True, True, slopes=slopes)
            h = ln(x, t, p + "ffn_norm", hp)
            x = x + linear(gelu_tanh(linear(h, t, p + "ffn_up", True)), t, p + "ffn_down", True)
        elif a == "phi3":
            h = rms(x, t, p + "attn_norm", hp)
            x = x + attn_block(h, t, p, hp, True, False, False, rope="neox")
            h = rms(x, t, p + "ffn_norm", hp)
            gate, up = np.split(linear(h, t, p + "ffn_up"), 2, axis=-1)
            x = x + linear(silu(gate) * up, t, p + "ffn_down")
        elif a == "falcon":
            # Parallel attention and MLP over one LayerNorm (Falcon-7B).
            h = ln(x, t, p + "attn_norm", hp)
            attn = attn_block(h, t, p, hp, True, False, False, rope="neox")
            mlp = linear(gelu_tanh(linear(h, t, p + "ffn_up")), t, p + "ffn_down")
            x = x + attn + mlp
        else:
            raise SystemExit(f"architecture {a} is not in the reference")
    if a in ("llama", "qwen2", "phi3"):
        x = rms(x, t, "output_norm", hp)
    else:
        x = ln(x, t, "output_norm", hp)
    return x @ t[hp.head].T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--prompt-ids", required=True)
    ap.add_argument("-n", type=int, default=32)
    args = ap.parse_args()
    meta, t = read_gguf(args.model)
    hp = HP(meta, t)
    ids = [int(s) for s in args.prompt_ids.split(",")]
    tokens, logits = [], []
    for _ in range(args.n):
        last = forward(hp, t, ids)[-1]
        nxt = int(np.argmax(last))
        logits.append(last.tolist())
        tokens.append(nxt)
        ids.append(nxt)
    json.dump({"tokens": tokens, "logits": logits}, sys.stdout)


if __name__ == "__main__":
    main()
