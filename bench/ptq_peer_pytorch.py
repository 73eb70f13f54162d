#!/usr/bin/python3
"""PyTorch FX post-training quantization of the MNIST teacher: the peer row of bench_quantize.

Rebuilds the teacher (samples/mnist/train_teacher.cpp) in torch.nn, loads the ONNX initializers
as its weights, quantizes it with torch.ao.quantization FX (fbgemm, per-channel weights:
get_default_qconfig_mapping('fbgemm')), calibrated on the same samples as bench_quantize (the
first CALIB training digits, batches of 32), and prints one JSON line:
  {"fp32_accuracy", "int8_accuracy", "calib_seconds_per_sample", "calib_samples", "test_samples",
   "engine" (the quantized kernels: fbgemm, or onednn where torch lacks fbgemm), "torch"}
Accuracies are fractions. The timed span is the calibration forward passes plus convert_fx,
as bench_quantize times calibration + rewrite; the fastest of --runs.

usage: ptq_peer_pytorch.py --model teacher.onnx --train train.npz --test test.npz
                           [--calib 256] [--batch 32] [--threads N] [--runs R]
Exits 3 when torch/onnx/numpy are missing (bench_quantize then skips the row).
"""
import argparse
import copy
import json
import sys
import time
import warnings

try:
    import numpy as np
    import onnx
    import onnx.numpy_helper
    import torch
    import torch.nn as nn
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
except ImportError as e:
    print(f"ptq_peer_pytorch: {e}", file=sys.stderr)
    sys.exit(3)


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16, eps=1e-5)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32, eps=1e-5)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        return self.fc2(self.relu3(self.fc1(torch.flatten(x, 1))))


def load_teacher(path):
    """The ONNX initializers carry the LibTorch parameter/buffer names, which match ours."""
    graph = onnx.load(path).graph
    ops = [n.op_type for n in graph.node]
    expected = ["Conv", "BatchNormalization", "Relu", "MaxPool"] * 2 + ["Flatten", "Gemm", "Relu", "Gemm"]
    if ops != expected:
        raise SystemExit(f"ptq_peer_pytorch: {path} is not the MNIST teacher architecture: {ops}")
    net = Teacher()
    state = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in graph.initializer}
    missing, unexpected = net.load_state_dict(state, strict=False)
    # num_batches_tracked is not exported (inference does not use it).
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"ptq_peer_pytorch: weights do not match: missing {missing}, unexpected {unexpected}")
    return net.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 500]) for i in range(0, len(x), 500)]).argmax(1)
    return (pred == y).double().mean().item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    # Debian's python3-torch is built without FBGEMM; its x86 kernels are then oneDNN's. The
    # qconfig (observers, per-channel weights, 7-bit activations) stays fbgemm's either way.
    supported = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "fbgemm" if "fbgemm" in supported else "onednn"
    # fbgemm's qconfig still uses reduce_range, which 1.13 warns is deprecated.
    warnings.filterwarnings("ignore", message=".*reduce_range.*")

    train, test = np.load(a.train), np.load(a.test)
    calib = torch.from_numpy(train["input"][:a.calib])
    x, y = torch.from_numpy(test["input"]), torch.from_numpy(test["labels"])

    net = load_teacher(a.model)
    fp32 = accuracy(net, x, y)

    # Fastest of --runs, each on a fresh copy: the cores are shared (bench_quantize times ours alike).
    seconds = float("inf")
    for _ in range(a.runs):
        prepared = prepare_fx(copy.deepcopy(net), get_default_qconfig_mapping("fbgemm"), example_inputs=(calib[:1],))
        t0 = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(calib), a.batch):
                prepared(calib[i:i + a.batch])
        quantized = convert_fx(prepared)
        seconds = min(seconds, time.perf_counter() - t0)
    int8 = accuracy(quantized, x, y)

    print(json.dumps({"fp32_accuracy": fp32, "int8_accuracy": int8,
                      "calib_seconds_per_sample": seconds / len(calib),
                      "calib_samples": len(calib), "test_samples": len(x),
                      "engine": torch.backends.quantized.engine, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
