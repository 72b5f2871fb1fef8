"""What the bench scripts share beyond the package: the machine's own matmul peak and its datasheet peak (for
MFU), readable SI numbers, and running jobs side by side. Naming the machine and timing live in
wuxia/timing.py, which report.py uses too."""
import os
import time

import torch

from wuxia.timing import timed


def matmul_peak(device, dtype, size, repeats):
    """The best FLOP/s of a size x size matmul in dtype on this device: this machine's own practical peak,
    the fair yardstick for how well a model uses it (a nominal datasheet figure is reported separately)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up: library initialisation, GPU clocks
    best = min(timed(lambda: a @ b, device)[0] for _ in range(repeats))
    return 2 * size ** 3 / best


# nominal dense bf16 tensor-core peaks (no sparsity) from the vendors' datasheets, for MFU on a GPU:
# (text in torch.cuda.get_device_name, the card as the datasheet names it, FLOP/s); the first match wins
NOMINAL_BF16_PEAKS = [("H100 PCIe", "H100 PCIe", 756e12), ("H100 NVL", "H100 NVL", 835e12),
                      ("H100", "H100 SXM", 989e12), ("H200", "H200 SXM", 989e12), ("A100", "A100", 312e12),
                      ("L40S", "L40S", 362e12), ("A10G", "A10G", 70e12), ("RTX 4090", "RTX 4090", 165e12)]


def nominal_gpu_peak(device):
    """(the card's datasheet name, its nominal dense bf16 FLOP/s), or (None, None) for a card not listed."""
    name = torch.cuda.get_device_name(device)
    for key, card, flops in NOMINAL_BF16_PEAKS:
        if key in name:
            return card, flops
    return None, None


def si(value, unit=""):
    """1.23e9 -> '1.23 G' + unit: readable throughputs and FLOP counts."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def run_parallel(jobs, parallel, cwd):
    """Run {name: (argv, log_path)} as subprocesses, at most `parallel` at a time; returns {name: exit code}.
    Small models leave a GPU mostly idle, so several trained side by side cost little more than one."""
    import subprocess
    pending, running, codes = list(jobs.items()), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            name, (argv, log_path) = pending.pop(0)
            os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
            log = open(log_path, "w")
            running[name] = (subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=log), log)
        for name, (process, log) in list(running.items()):
            if process.poll() is not None:
                log.close()
                codes[name] = process.returncode
                del running[name]
        time.sleep(0.5)
    return codes
