#!/usr/bin/python3
"""The zoo of bench_quantize_zoo, and its peer: PyTorch FX post-training quantization.

usage: quantize_zoo.py OUT_DIR [--models a,b,...] [--calib 32] [--eval 16] [--threads N]

For each architecture (torchvision builders with seeded random weights, BatchNorm running stats
made realistic on the calibration images as scripts/real_exports.py does, plus its DBNet-style
detector and a small ViT) writes OUT_DIR/<name>/:
  fp32.onnx   torch.onnx export at opset 13 (HardSwish, SiLU and GELU as elementwise ops, as
              opset 13 writes them), one input "input" [N,3,S,S], one output "output"
  calib.npz   "input": the first --calib smooth images (scripts/real_exports.py smooth_images)
  eval.npz    "input": --eval other images; "fp32": PyTorch's FP32 outputs; "fx": FX INT8 outputs
and OUT_DIR/zoo.json: per model its FX SQNR (dB, outputs vs FP32 over the eval images), top-1
agreement with FP32, calibration + convert time (fastest of 2 runs), the qconfig, or the reason
FX failed. The peer is torch.ao.quantization FX with get_default_qconfig_mapping("onednn"):
per-channel symmetric int8 weights, HistogramObserver uint8 activations; the onednn engine
runs it (this PyTorch has no fbgemm). Exits 3 without torch/torchvision/onnx.
"""
import argparse
import copy
import json
import os
import sys
import time
import warnings

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
    from torch.ao.quantization import HistogramObserver, QConfig, default_weight_observer, get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
except ImportError as e:
    print(f"quantize_zoo: {e}", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from real_exports import Detector, calibrate_bn, export, smooth_images  # noqa: E402


def vit_small():
    # 4 layers of width 192 (ViT-Tiny's width) on 64x64 images, patches of 8.
    net = torchvision.models.VisionTransformer(image_size=64, patch_size=8, num_layers=4, num_heads=3,
                                               hidden_dim=192, mlp_dim=768, num_classes=100)
    # torchvision zero-initialises the head (its outputs would all be 0, and no SQNR defined).
    nn.init.normal_(net.heads.head.weight, std=0.05)
    return net


# name -> (builder, image size, what it exercises)
ZOO = {
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(), 224, "depthwise, ReLU6, residual Add"),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(), 224, "hardswish, squeeze-excite"),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(), 224, "SiLU, squeeze-excite"),
    "mnasnet0_5": (lambda: torchvision.models.mnasnet0_5(), 224, "depthwise, residual Add"),
    "shufflenet_v2_x0_5": (lambda: torchvision.models.shufflenet_v2_x0_5(), 224, "channel shuffle, Concat"),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(), 224, "fire Concat, no BatchNorm"),
    "resnet18": (lambda: torchvision.models.resnet18(), 224, "residual Add"),
    "resnext50_32x4d": (lambda: torchvision.models.resnext50_32x4d(), 224, "grouped convs"),
    "regnet_y_400mf": (lambda: torchvision.models.regnet_y_400mf(), 224, "grouped convs, squeeze-excite"),
    "googlenet": (lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True), 224, "inception Concat, MaxPool"),
    "convnext_tiny": (lambda: torchvision.models.convnext_tiny(), 224, "LayerNorm, GELU, 7x7 depthwise"),
    "vit_small": (vit_small, 64, "attention, LayerNorm, GELU"),
    "detector": (lambda: Detector(), 320, "ConvTranspose, Resize, Concat, sigmoid map"),
}


def sqnr_db(ref, y):
    noise = float(((ref - y) ** 2).sum())
    return float("inf") if noise == 0 else 10 * np.log10(float((ref ** 2).sum()) / noise)


def top1_agreement(ref, y):
    if ref.ndim != 2:
        return None
    return float((ref.argmax(1) == y.argmax(1)).mean())


def run(model, x, batch=8):
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)]).numpy()


def fx_ptq(net, calib, runs):
    torch.backends.quantized.engine = "onednn"
    qmap = get_default_qconfig_mapping("onednn")
    # FX has no per-channel observer for ConvTranspose: per-tensor weights there, as FX allows.
    qmap.set_object_type(nn.ConvTranspose2d, QConfig(activation=HistogramObserver.with_args(reduce_range=False),
                                                     weight=default_weight_observer))
    best, quantized = float("inf"), None
    for _ in range(runs):
        model = copy.deepcopy(net).eval()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepared = prepare_fx(model, qmap, example_inputs=(calib[:1],))
            with torch.no_grad():
                for i in range(0, len(calib), 8):
                    prepared(calib[i:i + 8])
            quantized = convert_fx(prepared)
        best = min(best, time.perf_counter() - t0)
    return quantized, best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--models", default=",".join(ZOO))
    p.add_argument("--calib", type=int, default=32)
    p.add_argument("--eval", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    summary_path = os.path.join(a.out, "zoo.json")
    summary = json.load(open(summary_path)) if os.path.exists(summary_path) else {}
    for name in a.models.split(","):
        if name not in ZOO:
            sys.exit(f"quantize_zoo: unknown model '{name}' (known: {', '.join(ZOO)})")
        build, size, what = ZOO[name]
        t0 = time.time()
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        images = smooth_images(a.calib + a.eval, size, seed=1234)
        calib_np, eval_np = images[:a.calib], images[a.calib:]
        torch.manual_seed(0)
        net = build().eval()
        calibrate_bn(net, calib_np, batch=8, passes=1)
        calib, evalx = torch.from_numpy(calib_np), torch.from_numpy(eval_np)
        export(net, calib[:1], os.path.join(d, "fp32.onnx"), 13, "input", "output", {0: "N"}, {0: "N"},
               grad=name == "vit_small")
        fp32 = run(net, evalx)
        entry = {"what": what, "image_size": size, "calib_samples": a.calib, "eval_samples": a.eval,
                 "peer": "PyTorch FX PTQ, qconfig onednn (per-channel symmetric weights, HistogramObserver)",
                 "torch": torch.__version__}
        arrays = {"input": eval_np, "fp32": fp32}
        try:
            qnet, seconds = fx_ptq(net, calib, a.runs)
            fx = run(qnet, evalx)
            arrays["fx"] = fx
            entry.update({"fx_sqnr_db": sqnr_db(fp32, fx), "fx_top1_agreement": top1_agreement(fp32, fx),
                          "fx_calib_seconds": seconds})
        except Exception as e:  # FX cannot trace or convert some modules: recorded, not fatal
            entry["fx_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        np.savez(os.path.join(d, "calib.npz"), input=calib_np)
        np.savez(os.path.join(d, "eval.npz"), **arrays)
        summary[name] = entry
        with open(summary_path + ".tmp", "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(summary_path + ".tmp", summary_path)
        fx_text = f"FX {entry['fx_sqnr_db']:.1f} dB" if "fx_sqnr_db" in entry else entry["fx_error"]
        print(f"quantize_zoo: {name:20s} {fx_text}  ({time.time() - t0:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
