"""Timing work on a CPU or a GPU, and naming the machine a timing came from: report.py's speed section and
every benchmark in bench/ measure with these."""
import os
import platform
import time

import torch


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(device):
    """One line for the README: which machine and software a table came from."""
    if device.startswith("cuda"):
        where = f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    else:
        where = f"{cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    return f"{where}; torch {torch.__version__}, Python {platform.python_version()}"


def synchronize(device):
    """Wait for queued GPU work, so a timer measures the work and not the queueing."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def timed(fn, device):
    """(seconds fn() took, its result)."""
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result
