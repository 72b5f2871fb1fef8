"""SFT efficiency: seconds per epoch and supervised tokens per second of (get batch + forward + backward)
for three ways of batching the same QA rows, same model, same run:
  - padded:    every row at the full block (512), random batches: what most course solutions do;
  - trimmed:   random batches, each trimmed to its longest row (gains less than it seems: a batch of 16
               random rows usually holds one long row);
  - grouped:   ours (wuxia.batches.length_grouped_batches + sft_batch): rows of similar length batched
               together, each batch trimmed to its longest row.
The ideal speed-up over padding is (rows x block) / (real tokens): the share of it that grouping reaches is
printed (the issue asks for at least 85%). It can pass 100%: attention's cost grows with the square of the
row length, so a padded row costs more than its share of tokens; on small batches of short rows, fixed
per-batch costs pull it the other way.

    python bench/bench_sft.py                                  # generated QA set, character tokenizer
    python bench/bench_sft.py --tokenizer=gpt2                 # the same pairs in GPT-2 tokens
    python bench/bench_sft.py --qa=data/sft_jinyong/qa.jsonl   # a real QA file ({"question", "answer"} per line)
    python bench/bench_sft.py --tiny                           # smoke test (seconds)

The generated set mimics real student QA sets: the length of a pair (prompt + answer + <|endoftext|>) in
GPT-2 tokens is log-normal with median 250 and about a sixth of the pairs over 512 before truncation;
the text is random common Chinese characters (about 2.2 GPT-2 tokens each, close to Jin Yong's 2.16), so
the character tokenizer sees the same pairs about 2.2x shorter. The optimizer step is left out: it costs
the same per batch whichever batching is used.
"""
import math
import os
import sys
from statistics import NormalDist

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from model import GPT, GPTConfig
from wuxia.batches import TRAIN_STREAM, length_grouped_batches, sft_batch, step_rng, to_device
from wuxia.configurator import (AT_LEAST_0, AT_LEAST_1, BELOW_ONE, DEVICE, DTYPE, EXISTING_PATH, FRACTION, at_least,
                                configure, explain_machine_errors, one_of)
from wuxia.device import pick_device, precision
from wuxia.jsonl import read_qa_records
from wuxia.report import markdown_table
from wuxia.sft_format import encode_example, loss_masks
from wuxia.timing import describe_machine, timed
from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer

# -----------------------------------------------------------------------------------------------------------
qa = ""                  # a JSONL file of {"question", "answer"} records; empty: generate a QA set
tokenizer = "char"       # "char" (vocabulary built from the QA texts) or "gpt2"
n_pairs = 400            # pairs to generate
median_tokens = 250      # median GPT-2 length of a generated pair
long_share = 1 / 6       # share of generated pairs longer than block_size GPT-2 tokens before truncation
block_size = 512         # the full row that the padded baseline computes
batch_size = 16
n_layer = 4              # the model: the CPU preset's shape, with a 512 context for SFT rows
n_head = 4
n_embd = 256
vocab_size = 0           # 0: 5120 for char (the CPU preset's ~5,100 characters), 50304 for gpt2
dropout = 0.0
epochs = 1               # timed epochs per batching (interleaved, each reshuffled)
device = "auto"
num_threads = 0          # CPU threads for torch; 0 leaves torch's default (one per core)
dtype = "auto"           # as train.py: bfloat16 autocast on CUDA (else float16) and on CPUs with native bf16, else float32
seed = 1337
tiny = False             # smoke test: 40 short pairs, block 64, a toy model
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    "qa": EXISTING_PATH, "tokenizer": one_of("char", "gpt2"), "n_pairs": AT_LEAST_1, "median_tokens": AT_LEAST_1,
    "long_share": FRACTION, "block_size": at_least(8), "batch_size": AT_LEAST_1, "n_layer": AT_LEAST_1,
    "n_head": AT_LEAST_1, "n_embd": AT_LEAST_1, "vocab_size": AT_LEAST_0, "dropout": BELOW_ONE, "epochs": AT_LEAST_1,
    "device": DEVICE, "num_threads": AT_LEAST_0, "dtype": DTYPE})
if epochs < 1:
    raise SystemExit(f"--epochs={epochs}: time at least one epoch")
if tiny:
    n_pairs, median_tokens, block_size, batch_size, n_layer, n_head, n_embd = 40, 30, 64, 4, 2, 2, 32

device = pick_device(device)
if num_threads:
    torch.set_num_threads(num_threads)
dtype, autocast = precision(device, dtype)

# -----------------------------------------------------------------------------------------------------------
# the QA pairs
COMMON_CHARS = ("的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里"
                "后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动"
                "两长知样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很"
                "业最间新什打便位因重被走四第门相次东海口使教西再平真听世气信北少关并内加化由却代军入先山五太水万眼"
                "体别处总才场师书比住九笑性目立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或利受光"
                "王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服林题建南度统色字请交爱让认算论百吃"
                "义科怎元社术结六功指思非流每青管夫连远跟带花快条院变言往展该领传近留红治决周保达办运武半候七必城父"
                "强步完深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱倒未持取设始双历越史千片"
                "容像找友孩站广改议形早房音火际则首单级团坐飞剑刀侠掌郭靖蓉杨过龙乔峰段誉虚竹狐冲岳群盈张无忌赵敏芷"
                "若韦宝胡斐袁承志陈洛狄云石破萧")


def generated_pairs(rng):
    """n_pairs (question, answer) of random common characters whose GPT-2 lengths follow the settings."""
    gpt2 = GPT2Tokenizer()
    chars = np.array(list(COMMON_CHARS))
    # log-normal with the given median and share of pairs over block_size
    sigma = math.log(block_size / median_tokens) / NormalDist().inv_cdf(1 - long_share)
    pairs = []
    for target in rng.lognormal(math.log(median_tokens), sigma, size=n_pairs):
        question = "".join(rng.choice(chars, rng.integers(6, 17))) + "？"
        budget = max(int(target), 12) - len(gpt2.encode(question)) - 5  # 5: template and <|endoftext|>
        sentences = []
        while budget > 0:
            clauses = ["".join(rng.choice(chars, rng.integers(4, 12))) for _ in range(rng.integers(1, 4))]
            sentence = "，".join(clauses) + rng.choice(["。", "。", "！", "？"])
            cost = len(gpt2.encode(sentence))
            if sentences and cost - budget > budget:  # it would overshoot more than stopping falls short
                break
            sentences.append(sentence)
            budget -= cost
        pairs.append((question, "".join(sentences)))
    return pairs


def read_qa(path):
    examples, skipped, _ = read_qa_records(path)
    if skipped:  # timing a part of the file would mislead: every record must be usable
        raise SystemExit("\n".join(f"{source}: {reason}" for source, reason in skipped))
    if not examples:
        raise SystemExit(f"{path}: no QA records")
    return [(e["question"], e["answer"]) for e in examples]


pairs = read_qa(qa) if qa else generated_pairs(np.random.default_rng(seed))
tok = GPT2Tokenizer() if tokenizer == "gpt2" else CharTokenizer.from_texts([q + a for q, a in pairs] + ["问：答"])

# rows exactly as prepare_sft.py lays them out (wuxia.sft_format.encode_example), padded with <|endoftext|>
encoded = [encode_example(tok, q, a, block_size) for q, a in pairs]
kept = [(ids, prompt_len) for ids, prompt_len, status in encoded if status != "too_long"]
statuses = [status for _, _, status in encoded]
rows = np.full((len(kept), block_size), tok.eot_id, dtype=np.uint16 if tok.vocab_size <= 65535 else np.uint32)
spans = np.zeros((len(kept), 2), dtype=np.int32)
for i, (ids, prompt_len) in enumerate(kept):
    rows[i, :len(ids)] = ids
    spans[i] = prompt_len, len(ids)
total_lens = spans[:, 1]
ideal = len(rows) * block_size / total_lens.sum()

# -----------------------------------------------------------------------------------------------------------
# the model and the three batchings
vocab_size = vocab_size or (50304 if tokenizer == "gpt2" else 5120)
if vocab_size < tok.vocab_size:
    raise SystemExit(f"--vocab_size={vocab_size} is smaller than the tokenizer's {tok.vocab_size} ids")
torch.manual_seed(seed)
model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                      vocab_size=vocab_size, dropout=dropout)).to(device)
model.train()


def full_width_batch(row_ids):
    """Every row at the full block, whatever its length: the padded baseline."""
    row_ids = np.sort(row_ids)
    tokens = rows[row_ids].astype(np.int64)
    mask = loss_masks(spans[row_ids, 0], spans[row_ids, 1], block_size - 1)
    return to_device([tokens[:, :-1], tokens[:, 1:], mask], device)


def random_batches(epoch):
    order = step_rng(seed, TRAIN_STREAM, epoch).permutation(len(rows))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


BATCHINGS = {  # name: (row ids of one epoch's batches, how a batch is built)
    "padded to the block": (random_batches, full_width_batch),
    "random batches, trimmed to longest row": (random_batches, lambda ids: sft_batch(rows, spans, ids, device)),
    "length-grouped, trimmed (ours)": (lambda epoch: length_grouped_batches(total_lens, batch_size, seed, epoch),
                                       lambda ids: sft_batch(rows, spans, ids, device)),
}


def run_epoch(batch_ids, make_batch):
    """get batch + forward + backward over one epoch; returns (tokens computed, supervised tokens)."""
    computed, supervised = 0, torch.zeros((), device=device)
    for ids in batch_ids:
        x, y, mask = make_batch(ids)
        with autocast:
            _, loss = model(x, y, mask)
        loss.backward()
        model.zero_grad(set_to_none=True)
        computed += x.numel()
        supervised += mask.sum()  # summed on the device: no host sync per batch
    return computed, int(supervised)


for name, (epoch_batches, make_batch) in BATCHINGS.items():  # warm-up: one batch each
    run_epoch(epoch_batches(0)[:1], make_batch)
seconds, computed, supervised = ({name: 0.0 for name in BATCHINGS} for _ in range(3))
for epoch in range(epochs):  # interleaved, so a disturbance on a shared machine hits every batching alike
    for name, (epoch_batches, make_batch) in BATCHINGS.items():
        elapsed, (epoch_computed, epoch_supervised) = timed(lambda: run_epoch(epoch_batches(epoch), make_batch), device)
        seconds[name] += elapsed / epochs
        computed[name] += epoch_computed / epochs
        supervised[name] += epoch_supervised / epochs

# -----------------------------------------------------------------------------------------------------------
print(f"bench_sft on {describe_machine(device)}, {dtype}")
source = qa if qa else f"{n_pairs} generated pairs (median {median_tokens} GPT-2 tokens, {long_share:.0%} over {block_size})"
print(f"data: {source}; {tokenizer} tokenizer; {len(rows)} rows of at most {block_size} tokens "
      f"({statuses.count('truncated')} truncated, {statuses.count('too_long')} too long and left out); "
      f"row length mean {total_lens.mean():.0f}, median {np.median(total_lens):.0f}, max {total_lens.max()} tokens")
print(f"model {n_layer} layers x {n_head} heads x {n_embd} wide, vocab {vocab_size}, dropout {dropout}; batch {batch_size}; "
      f"{epochs} epoch(s) per batching; timed: get batch + forward + backward")
print()
padded_seconds = seconds["padded to the block"]
table = []
for name in BATCHINGS:
    speedup = padded_seconds / seconds[name]
    table.append([name, f"{computed[name]:,.0f}", f"{seconds[name]:.2f}", f"{supervised[name] / seconds[name]:,.0f}",
                  f"{speedup:.2f}x", f"{speedup / ideal:.0%}"])
print(markdown_table(["batching", "tokens computed per epoch", "s/epoch", "supervised tokens/s",
                      "speed-up vs padded", f"share of ideal {ideal:.2f}x"], table))
print()
grouped_share = padded_seconds / seconds["length-grouped, trimmed (ours)"] / ideal
print(f"ideal speed-up = rows x {block_size} / real tokens = {len(rows)} x {block_size} / {total_lens.sum():,} = "
      f"{ideal:.2f}x; length-grouped batching reaches {grouped_share:.0%} of it (target >= 85%)")
