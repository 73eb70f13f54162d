#!/usr/bin/python3
"""Writes a torch.onnx export with data-dependent control flow, and PyTorch's outputs for it.

usage: python3 scripts/control_flow_export.py OUT_DIR

Writes to OUT_DIR:
  control_flow.onnx  torch.jit.script of ControlFlow below, opset 13: an If on the sign of
                     x.sum() (one branch reads the Linear's weights, an initializer of the main
                     graph) and a Loop whose trip count is the "steps" input;
                     "x" float32 [2,4], "steps" int64 [] -> "acc" [2,4], "y" [2,4]
  control_flow.npz   for each case k in 0..CASES-1: "x_k", "steps_k" and PyTorch's "acc_k", "y_k";
                     the cases take both branches and trip counts 0, 1 and more

tests/core/test_control_flow.cpp runs this at test time. Needs Debian's python3-torch and
python3-onnx; the model must pass onnx.checker.check_model(full_check=True).
"""
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn


class ControlFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, steps: torch.Tensor):
        if bool(x.sum() > 0):
            y = self.linear(x)
        else:
            y = x * 2.0 - 1.0
        acc = torch.zeros_like(y)
        for i in range(int(steps)):
            acc = acc + torch.tanh(y) * float(i + 1)
            y = y * 0.5 + 0.25
        return acc, y


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    net = torch.jit.script(ControlFlow().eval())
    x = torch.randn(2, 4)
    steps = torch.tensor(3, dtype=torch.int64)
    path = os.path.join(out, "control_flow.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x, steps), path, opset_version=13, input_names=["x", "steps"],
                          output_names=["acc", "y"])
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    ops = {n.op_type for n in model.graph.node}
    if not {"If", "Loop"} <= ops:
        sys.exit(f"the export has no If and Loop (ops: {sorted(ops)})")

    arrays = {}
    cases = [(torch.randn(2, 4).abs(), 3), (-torch.randn(2, 4).abs(), 3), (torch.randn(2, 4).abs(), 0),
             (-torch.randn(2, 4).abs(), 1), (torch.randn(2, 4), 6)]
    with torch.no_grad():
        for k, (xk, n) in enumerate(cases):
            sk = torch.tensor(n, dtype=torch.int64)
            acc, y = net(xk, sk)
            arrays.update({f"x_{k}": xk.numpy(), f"steps_{k}": sk.numpy(), f"acc_{k}": acc.numpy(), f"y_{k}": y.numpy()})
    np.savez(os.path.join(out, "control_flow.npz"), **arrays)


if __name__ == "__main__":
    main()
