"""The batched decoding engine behind serve.py: many requests share one model, and those that are running
at the same time are decoded together, one batched forward pass per token for all of them.

A request is one row of the batch. Rows join and leave at every step ("continuous batching"): a request
that arrives while others are generating has its prompt encoded on its own (its prefill) and then joins
the running batch, and a row that ends (<|endoftext|>, max_tokens, or cancelled because its client left or
a stop string matched) is dropped at once, so nobody waits for the longest answer of a batch.

All rows share one KV cache whose columns are a common timeline. Each row's tokens are right-aligned on it
(a row that joined late has invalid columns on its left); a mask marks each row's valid columns and each
row's positions count its own tokens only, so a row computes exactly what it would compute alone.

The decoding itself is generate.py's core, the one generate_tokens runs (prefill, decode_step, the penalties
and next_tokens), given each row's own settings and its own seeded generator: a request's answer for a seed
is generate()'s for that seed alone, whatever else is in the batch.
"""
import threading
import traceback
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from wuxia.generate import (cache_dtype, decode_step, left_pad, new_generator, next_tokens, penalize_frequency,
                            penalize_repeats, prefill)


class QueueFull(Exception):
    """The engine has max_waiting requests waiting already: the caller should try again later."""


@dataclass
class Request:
    """One row to generate. deliver(item) is called from the engine's thread with each new token id, and
    finally with the reason it ended: "stop" (<|endoftext|>), "length" (max_tokens), "cancelled", or
    "error" (the step failed: the engine's thread prints why)."""
    prompt: list
    max_tokens: int
    deliver: callable
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    generated: int = 0

    def cancel(self):
        """Stop generating this row at the engine's next step (thread-safe)."""
        self.cancelled.set()


def _used_columns(valid):
    """How many columns at the right end of the timeline some row still uses."""
    used = valid.any(0).nonzero()
    return valid.size(1) - int(used[0]) if len(used) else 0


def _assemble(blocks, headroom, device, dtype, model):
    """One cache from several (cache, valid) blocks of rows, each right-aligned on a common timeline as wide
    as the widest block's used columns (columns no row uses any more are dropped), with room for `headroom`
    more columns. Returns (cache, valid)."""
    width = max(_used_columns(valid) for _, valid in blocks)
    rows = sum(valid.size(0) for _, valid in blocks)
    cache = model.new_cache(rows, width + headroom, device, dtype)
    for layer in cache:  # the columns left of a shorter block are masked, but must hold numbers, not NaN
        layer.k[:, :, :width].zero_()
        layer.v[:, :, :width].zero_()
    valid_all = torch.zeros((rows, width), dtype=torch.bool, device=device)
    row = 0
    for old_cache, valid in blocks:
        n, w = valid.size(0), _used_columns(valid)
        valid_all[row:row + n, width - w:] = valid[:, valid.size(1) - w:]
        end = old_cache[0].length
        for new_layer, old_layer in zip(cache, old_cache):
            new_layer.k[row:row + n, :, width - w:width] = old_layer.k[:, :, end - w:end]
            new_layer.v[row:row + n, :, width - w:width] = old_layer.v[:, :, end - w:end]
        row += n
    for layer in cache:
        layer.length = width
    return cache, valid_all


class Engine:
    """Holds the waiting requests and the running batch of one model. submit() from any thread; step() does
    one decoding step for every running row; run_forever() (the engine's thread) steps while there is work."""

    def __init__(self, model, eot_id, max_batch=16, max_waiting=64, autocast=None):
        self.model, self.eot_id = model.eval(), eot_id
        self.max_batch, self.max_waiting = max_batch, max_waiting
        self.autocast = autocast or nullcontext()
        self.device = next(model.parameters()).device
        self.dtype = cache_dtype(model, autocast)
        self.block_size = model.config.block_size
        self.waiting = deque()
        self.work = threading.Condition()
        # the running batch: one entry per row
        self.rows, self.generators = [], []
        self.cache, self.valid = None, None          # KV cache and (rows, columns) mask of valid columns
        self.next_input = None                       # (rows,) the token each row feeds at the next step
        self.counts = None                           # (rows, vocab) how often each row generated each token

    def submit(self, request):
        """Queue a request. Raises ValueError when it cannot fit the context, QueueFull when too many wait."""
        if not 1 <= request.max_tokens or len(request.prompt) + request.max_tokens > self.block_size:
            raise ValueError(f"prompt ({len(request.prompt)} tokens) + max_tokens ({request.max_tokens}) must be "
                             f"at most the model's context, {self.block_size} tokens")
        with self.work:
            if len(self.waiting) >= self.max_waiting:
                raise QueueFull(f"{len(self.waiting)} requests are waiting already")
            self.waiting.append(request)
            self.work.notify()

    def busy(self):
        return bool(self.rows or self.waiting)

    def run_forever(self):
        while True:
            with self.work:
                self.work.wait_for(self.busy)
            try:
                self.step()
            except Exception:  # step() has ended its requests with "error"; the engine goes on
                traceback.print_exc()

    @torch.no_grad()
    def step(self):
        """One token for every running row, after admitting waiting requests into free rows."""
        self._retire({i: "cancelled" for i, r in enumerate(self.rows) if r.cancelled.is_set()})
        with self.work:
            for request in [r for r in self.waiting if r.cancelled.is_set()]:
                self.waiting.remove(request)  # its client left while it waited
                request.deliver("cancelled")
            newcomers = [self.waiting.popleft() for _ in range(min(len(self.waiting), self.max_batch - len(self.rows)))]
        try:
            logits = []
            with self.autocast:
                if self.rows:
                    logits.append(self._decode_running())
                if newcomers:
                    logits.append(self._prefill(newcomers))
            if logits:
                self._sample(torch.cat(logits).float())
        except Exception:  # a failed step must not leave its requests waiting forever
            failed = self.rows + [r for r in newcomers if all(r is not row for row in self.rows)]
            self.rows, self.generators = [], []
            self.cache = self.valid = self.next_input = self.counts = None
            for request in failed:
                request.deliver("error")
            raise

    def _decode_running(self):
        """Feed each running row its last token; returns the next-token logits. The cache has room: it was
        last assembled, with block_size columns to spare, when its newest rows joined, and no row takes more
        than block_size - 1 steps (submit() checks prompt + max_tokens)."""
        self.valid = torch.cat([self.valid, torch.ones((len(self.rows), 1), dtype=torch.bool, device=self.device)], 1)
        return decode_step(self.model, self.next_input, self.valid, self.cache)

    def _prefill(self, newcomers):
        """Encode the newcomers' prompts (left-padded, together), then join them to the running batch."""
        tokens, valid = left_pad([r.prompt for r in newcomers], self.eot_id, self.device)
        cache = self.model.new_cache(len(newcomers), tokens.size(1), self.device, self.dtype)
        logits = prefill(self.model, tokens, valid, cache)
        blocks = [(cache, valid)] if not self.rows else [(self.cache, self.valid), (cache, valid)]
        self.cache, self.valid = _assemble(blocks, self.block_size, self.device, self.dtype, self.model)
        vocab = self.model.config.vocab_size
        new_counts = torch.zeros((len(newcomers), vocab), device=self.device)
        self.counts = new_counts if not self.rows else torch.cat([self.counts, new_counts])
        for request in newcomers:
            self.rows.append(request)
            self.generators.append(new_generator(request.seed, self.device))
        return logits

    def _sample(self, logits):
        """Each row's next token with its own settings and generator; deliver it, and retire the rows that
        ended."""
        def setting(name):
            return torch.tensor([[getattr(r, name)] for r in self.rows], device=self.device)

        logits = penalize_repeats(logits, self.counts > 0, setting("repetition_penalty"))
        if any(r.frequency_penalty or r.presence_penalty for r in self.rows):
            logits = penalize_frequency(logits, self.counts, setting("frequency_penalty"), setting("presence_penalty"))
        next_ids = next_tokens(logits, [r.temperature for r in self.rows], [r.top_k for r in self.rows],
                               [r.top_p for r in self.rows], self.generators)
        ended = {}
        for row, (request, token) in enumerate(zip(self.rows, next_ids.tolist())):
            if token == self.eot_id:
                ended[row] = "stop"
                continue
            request.generated += 1
            request.deliver(token)
            if request.generated >= request.max_tokens:
                ended[row] = "length"
        self.next_input = next_ids
        self.counts[torch.arange(len(self.rows), device=self.device), next_ids] += 1
        self._retire(ended)

    def _retire(self, ended):
        """Remove the rows of ended ({row: reason}) from the batch and tell their requests why they ended."""
        if not ended:
            return
        for row, reason in ended.items():
            self.rows[row].deliver(reason)
        keep = [i for i in range(len(self.rows)) if i not in ended]
        self.rows = [self.rows[i] for i in keep]
        self.generators = [self.generators[i] for i in keep]
        if not keep:
            self.cache = self.valid = self.next_input = self.counts = None
            return
        index = torch.tensor(keep, device=self.device)
        for layer in self.cache:
            layer.k, layer.v = layer.k[index], layer.v[index]
        self.valid, self.next_input, self.counts = self.valid[index], self.next_input[index], self.counts[index]


def start_engine(model, eot_id, **options):
    """An Engine with its thread started (a daemon: it ends with the process)."""
    engine = Engine(model, eot_id, **options)
    threading.Thread(target=engine.run_forever, daemon=True, name="wuxia-engine").start()
    return engine
