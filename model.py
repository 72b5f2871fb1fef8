"""The GPT in two architectures, chosen by GPTConfig.arch:
  - "gpt2": nanoGPT's (learned positions, pre-LayerNorm blocks, GELU MLP), the course's model;
  - "llama": rotary positions, RMSNorm, a SwiGLU MLP and no biases, which learns more per FLOP on small
    budgets (bench/sweep_pretrain.py compares the two at equal CPU time) and is what Hugging Face's LlamaForCausalLM computes.
Both tie the input and output embeddings and use causal attention through scaled_dot_product_attention,
plus two things a chat model needs:
  - a loss over the supervised targets only (loss_mask), so SFT learns the answers and not the prompts;
  - a KV cache, so generating token t costs one token's work instead of re-reading all t tokens.
Generation itself (sampling, stop tokens, streaming) lives in wuxia/generate.py.
"""
import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 256
    vocab_size: int = 50304  # GPT-2's 50257 rounded up to a multiple of 64: faster matmuls
    n_layer: int = 6
    n_head: int = 8
    n_embd: int = 512
    dropout: float = 0.0
    bias: bool = True
    arch: str = "gpt2"        # "gpt2" or "llama" (see the top of this file); checkpoints without it are gpt2
    rope_theta: float = 10000.0


def make_norm(config):
    return nn.RMSNorm(config.n_embd) if config.arch == "llama" else nn.LayerNorm(config.n_embd, bias=config.bias)


def rotary_tables(config):
    """cos and sin of the rotation angles, (block_size, head_dim): position p turns the pair of channels
    (i, i + head_dim/2) by p * theta^(-2i/head_dim), as Hugging Face's Llama does (its weights load as-is)."""
    head_dim = config.n_embd // config.n_head
    inv_freq = config.rope_theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(config.block_size, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x, cos, sin):
    """Rotate queries or keys x (B, n_head, T, head_dim) by their positions' angles (B, 1, T, head_dim)."""
    half = x.size(-1) // 2
    rotated_half = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated_half * sin


def written_out_causal_attention(q, k, v, dropout_p):
    """softmax(q k^T / sqrt(d) + causal mask) v, as plain tensor operations. Compiled for a CPU, this is faster
    than SDPA's CPU flash kernel up to 512 tokens (bench/bench_train.py): torch.compile fuses the scale, mask,
    softmax and dropout into one loop between two bfloat16 matmuls, where the flash kernel's backward pass is
    slow at short contexts. Beyond 512 tokens the T x T scores cost more than they save."""
    T = q.size(-2)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")).float(), dim=-1).to(v.dtype)
    return F.dropout(weights, dropout_p) @ v


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.dropout = config.dropout

    def forward(self, x, attn_mask=None, layer_cache=None, rotary=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        if layer_cache is not None:
            k, v = layer_cache.append(k, v)
        dropout_p = self.dropout if self.training else 0.0
        if attn_mask is None and 1 < T <= 512 and x.device.type == "cpu" and torch.compiler.is_compiling():
            y = written_out_causal_attention(q, k, v, dropout_p)
        elif attn_mask is None:
            # the plain causal case: SDPA can use flash attention on CUDA
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=T > 1)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


def swiglu_hidden(n_embd):
    """SwiGLU's hidden width: 2/3 of GELU's 4 * n_embd keeps the parameter count, rounded up to 64."""
    return -(-8 * n_embd // 3 // 64) * 64


class SwiGLU(nn.Module):
    """silu(x W_gate) * (x W_up), then down: the gate and up projections are one matmul (c_fc)."""

    def __init__(self, config):
        super().__init__()
        self.hidden = swiglu_hidden(config.n_embd)
        self.c_fc = nn.Linear(config.n_embd, 2 * self.hidden, bias=False)
        self.c_proj = nn.Linear(self.hidden, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        gate, up = self.c_fc(x).split(self.hidden, dim=-1)
        return self.dropout(self.c_proj(F.silu(gate) * up))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = make_norm(config)
        self.mlp = SwiGLU(config) if config.arch == "llama" else MLP(config)

    def forward(self, x, attn_mask=None, layer_cache=None, rotary=None):
        x = x + self.attn(self.ln_1(x), attn_mask, layer_cache, rotary)
        return x + self.mlp(self.ln_2(x))


class LayerCache:
    """Keys and values of one layer for the tokens seen so far, in preallocated tensors (no torch.cat per
    step, which would copy the whole cache every token)."""

    def __init__(self, batch_size, n_head, max_len, head_dim, device, dtype):
        self.k = torch.empty(batch_size, n_head, max_len, head_dim, device=device, dtype=dtype)
        self.v = torch.empty_like(self.k)
        self.length = 0

    def append(self, k, v):
        start, end = self.length, self.length + k.size(2)
        self.k.narrow(2, start, end - start).copy_(k)  # narrow + copy_: fewer ops than slice assignment
        self.v.narrow(2, start, end - start).copy_(v)
        self.length = end
        return self.k.narrow(2, 0, end), self.v.narrow(2, 0, end)


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        if config.arch not in ("gpt2", "llama"):
            raise ValueError(f"unknown arch {config.arch!r}: use 'gpt2' or 'llama'")
        if config.arch == "llama":
            config = replace(config, bias=False)  # a copy: the caller's config stays as it was given
        self.config = config
        layers = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if config.arch == "gpt2":
            layers["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        self.transformer = nn.ModuleDict(dict(
            **layers,
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=make_norm(config),
        ))
        if config.arch == "llama":
            cos, sin = rotary_tables(config)
            self.register_buffer("rotary_cos", cos, persistent=False)
            self.register_buffer("rotary_sin", sin, persistent=False)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied embeddings: fewer parameters, better small models
        self.apply(self._init_weights)
        # GPT-2's scaled init of the residual projections keeps the residual stream's variance flat with depth
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=True):
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding and "wpe" in self.transformer else n

    def forward(self, idx, targets=None, loss_mask=None, positions=None, attn_mask=None, cache=None):
        """idx (B, T) token ids. With targets: returns (logits, loss), the loss being the mean cross-entropy
        over the targets where loss_mask is 1 (all targets when loss_mask is None). Without targets: returns
        (logits of the last position only, None), which is all generation needs.

        positions (B, T) and attn_mask (B, 1, T, T_total, True = may attend) are for batched generation of
        left-padded prompts; cache is a list of LayerCache, one per layer."""
        B, T = idx.size()
        if positions is None:
            start = cache[0].length if cache is not None else 0
            last = start + T - 1  # a Python int: checking it needs no GPU sync and no torch.compile graph break
            positions = torch.arange(start, start + T, device=idx.device).unsqueeze(0)
        else:
            last = int(positions.max())  # generation with explicit positions: it syncs every token anyway
        if last >= self.config.block_size:
            raise ValueError(f"position {last} is past the model's context (block_size={self.config.block_size})")
        x = self.transformer.wte(idx)
        rotary = None
        if self.config.arch == "llama":
            rotary = self.rotary_cos[positions].unsqueeze(1), self.rotary_sin[positions].unsqueeze(1)
        else:
            x = x + self.transformer.wpe(positions)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x, attn_mask, cache[i] if cache is not None else None, rotary)
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None
        logits = self.lm_head(x)
        losses = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), reduction="none")
        if loss_mask is None:
            return logits, losses.mean()
        loss_mask = loss_mask.reshape(-1).to(losses.dtype)
        # clamp: a batch whose rows supervise nothing gives loss 0, not 0/0 = NaN
        return logits, (losses * loss_mask).sum() / loss_mask.sum().clamp(min=1.0)

    def new_cache(self, batch_size, max_len, device, dtype):
        c = self.config
        return [LayerCache(batch_size, c.n_head, max_len, c.n_embd // c.n_head, device, dtype)
                for _ in range(c.n_layer)]

    def configure_optimizer(self, weight_decay, learning_rate, betas, device_type):
        """AdamW with weight decay on the matrices only (not on biases and LayerNorm gains)."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        extra = {"fused": True} if device_type == "cuda" else {}
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **extra)

    def flops_per_token(self):
        """Training FLOPs per token (forward + backward), as in the PaLM paper's appendix B."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.n_embd * c.block_size
