#!/usr/bin/python3
"""Writes a corpus of real torch.onnx exports for tests, with random (seeded) weights.

usage: python3 scripts/real_exports.py OUT_DIR

Writes to OUT_DIR:
  mobilenet_v3_small.onnx  torchvision mobilenet_v3_small, opset 17, "input" [N,3,224,224] -> "logits"
  resnet18_op11.onnx       torchvision resnet18, opset 11, "input" [N,3,224,224] -> "logits"
  detector_op11.onnx       a small DBNet-style text detector, opset 11,
                           "image" [N,3,H,W] -> "prob" [N,1,H,W] (H, W multiples of 32)
  detector_op9.onnx        the same detector at opset 9 (Upsample with constant scales), as old
                           converters write it
  vit_tiny.onnx            torchvision VisionTransformer (64x64 images, patch 16, 2 layers, width 64,
                           10 classes), opset 17, "input" [N,3,64,64] -> "logits"
  encoder_scripted.pt      torch.jit.script(nn.TransformerEncoder) (2 post-norm layers, width 32, 4 heads,
                           batch_first; forward(src, mask=None, src_key_padding_mask=None)), in eval
                           mode, whose scripted graph holds PyTorch's fused inference fast paths
  encoder_io.npz           "src": float32 [16,10,32] and "expected": the module's outputs for them
  crnn_lstm.onnx           a small CRNN text recognizer (convs collapsing the height, 2-layer
                           bidirectional LSTM, 37-way per-column logits), opset 13,
                           "image" [N,1,32,W] -> "logits" [W/4,N,37]; its LSTMs start from
                           ConstantOfShape zeros, as torch.onnx writes them
  crnn_gru.onnx            the same recognizer with a 2-layer unidirectional GRU
  calib_224.npz            "input": float32 [32,3,224,224], smooth ImageNet-normalized images
  calib_64.npz             "input": float32 [16,3,64,64], for the ViT
  calib_det.npz            "image": float32 [16,3,320,320], same kind of images

BatchNorm running statistics are made realistic by running each net in train() mode on the
calibration images (cumulative average, momentum=None) before eval() and export; torch.onnx
then folds each BatchNorm into the convolution before it, as any real export does. Every
model must pass onnx.checker.check_model(full_check=True) and
onnx.shape_inference.infer_shapes(strict_mode=True), or the script exits non-zero and leaves
that file unwritten. Needs Debian's python3-torch, python3-torchvision, python3-onnx.
"""
import os
import sys
import time
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


def smooth_images(n, size, seed):
    """Low-frequency noise (a few octaves, bilinearly upsampled) in [0, 1], ImageNet-normalized."""
    g = torch.Generator().manual_seed(seed)
    img = torch.zeros(n, 3, size, size)
    weight = 1.0
    for cells in (4, 8, 16, 32):
        noise = torch.rand(n, 3, cells, cells, generator=g)
        img += weight * F.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)
        weight *= 0.5
    lo = img.amin(dim=(1, 2, 3), keepdim=True)
    hi = img.amax(dim=(1, 2, 3), keepdim=True)
    img = (img - lo) / (hi - lo + 1e-6)
    return ((img.numpy() - MEAN) / STD).astype(np.float32)


def conv_bn_relu(cin, cout, k=3, stride=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Detector(nn.Module):
    """DBNet-style text detector: 4-stage strided backbone (1/4 .. 1/32), FPN with nearest
    upsampling and 1x1 laterals, DBNet fusion (upsample every level to 1/4 and concat), and a
    head with two stride-2 ConvTranspose2d back to input resolution and a sigmoid map."""

    def __init__(self, chans=(16, 32, 64, 96), inner=64):
        super().__init__()
        c1, c2, c3, c4 = chans
        self.stem = nn.Sequential(conv_bn_relu(3, c1, 3, 2), conv_bn_relu(c1, c1))           # 1/2
        self.stage1 = nn.Sequential(conv_bn_relu(c1, c1, 3, 2), conv_bn_relu(c1, c1))        # 1/4
        self.stage2 = nn.Sequential(conv_bn_relu(c1, c2, 3, 2), conv_bn_relu(c2, c2))        # 1/8
        self.stage3 = nn.Sequential(conv_bn_relu(c2, c3, 3, 2), conv_bn_relu(c3, c3))        # 1/16
        self.stage4 = nn.Sequential(conv_bn_relu(c3, c4, 3, 2), conv_bn_relu(c4, c4))        # 1/32
        self.lat = nn.ModuleList([nn.Conv2d(c, inner, 1, bias=False) for c in (c1, c2, c3, c4)])
        q = inner // 4
        self.smooth = nn.ModuleList([nn.Conv2d(inner, q, 3, padding=1, bias=False) for _ in range(4)])
        self.head = nn.Sequential(
            nn.Conv2d(inner, q, 3, padding=1, bias=False),
            nn.BatchNorm2d(q),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(q, q, 2, stride=2),
            nn.BatchNorm2d(q),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(q, 1, 2, stride=2),
        )

    def forward(self, x):
        f1 = self.stage1(self.stem(x))
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        f4 = self.stage4(f3)
        l1, l2, l3, l4 = (lat(f) for lat, f in zip(self.lat, (f1, f2, f3, f4)))
        p4 = l4
        p3 = l3 + F.interpolate(p4, scale_factor=2.0, mode="nearest")
        p2 = l2 + F.interpolate(p3, scale_factor=2.0, mode="nearest")
        p1 = l1 + F.interpolate(p2, scale_factor=2.0, mode="nearest")
        o1, o2, o3, o4 = (s(p) for s, p in zip(self.smooth, (p1, p2, p3, p4)))
        fused = torch.cat([
            o1,
            F.interpolate(o2, scale_factor=2.0, mode="nearest"),
            F.interpolate(o3, scale_factor=4.0, mode="nearest"),
            F.interpolate(o4, scale_factor=8.0, mode="nearest"),
        ], dim=1)
        return torch.sigmoid(self.head(fused))


class CRNN(nn.Module):
    """A CRNN text-line recognizer: convs collapse the height, a recurrent net reads the columns."""

    def __init__(self, cell, bidirectional, hidden=48, classes=37):
        super().__init__()
        self.features = nn.Sequential(conv_bn_relu(1, 32), nn.MaxPool2d(2), conv_bn_relu(32, 64), nn.MaxPool2d(2),
                                      nn.Conv2d(64, 64, (8, 1)), nn.ReLU())
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(64, hidden, num_layers=2, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), classes)

    def forward(self, x):                           # [N,1,32,W]
        f = self.features(x).squeeze(2)             # [N,64,W/4]
        y, _ = self.rnn(f.permute(2, 0, 1))         # [W/4,N,D*hidden]
        return self.head(y)


def calibrate_bn(model, images, batch, passes):
    """Sets BatchNorm running stats to the cumulative average over the images (train mode)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        x = torch.from_numpy(images)
        for _ in range(passes):
            for i in range(0, len(x), batch):
                model(x[i:i + batch])
    for m in bns:
        m.momentum = 0.1
    model.eval()


def check(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    return m


def export(model, dummy, path, opset, in_name, out_name, in_axes, out_axes, grad=False):
    tmp = path + ".tmp"
    # grad=True for attention: under no_grad, eval-mode nn.MultiheadAttention takes its fused fast
    # path (aten::_native_multi_head_attention), which torch.onnx cannot export.
    with torch.set_grad_enabled(grad):
        torch.onnx.export(
            model, dummy, tmp, opset_version=opset, input_names=[in_name],
            output_names=[out_name], dynamic_axes={in_name: in_axes, out_name: out_axes},
            do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
    try:
        check(tmp)
    except Exception:
        os.remove(tmp)
        raise
    os.replace(tmp, path)


def save_npz(path, key, arr):
    tmp = path + ".tmp.npz"
    np.savez(tmp, **{key: arr})
    os.replace(tmp, path)


def report(path, t0):
    print(f"real_exports: {os.path.basename(path):24s} {os.path.getsize(path):>10d} bytes"
          f"  ({time.time() - t0:.1f}s)", flush=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: real_exports.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    torch.manual_seed(0)
    t0 = time.time()

    calib224 = smooth_images(32, 224, seed=1)
    calibdet = smooth_images(16, 320, seed=2)
    p = os.path.join(out, "calib_224.npz"); save_npz(p, "input", calib224); report(p, t0)
    p = os.path.join(out, "calib_det.npz"); save_npz(p, "image", calibdet); report(p, t0)
    calib64 = smooth_images(16, 64, seed=3)
    p = os.path.join(out, "calib_64.npz"); save_npz(p, "input", calib64); report(p, t0)

    dummy224 = torch.from_numpy(calib224[:1])

    net = torchvision.models.mobilenet_v3_small()
    calibrate_bn(net, calib224, batch=16, passes=1)
    p = os.path.join(out, "mobilenet_v3_small.onnx")
    export(net, dummy224, p, 17, "input", "logits", {0: "N"}, {0: "N"}); report(p, t0)

    net = torchvision.models.resnet18()
    calibrate_bn(net, calib224, batch=16, passes=1)
    p = os.path.join(out, "resnet18_op11.onnx")
    export(net, dummy224, p, 11, "input", "logits", {0: "N"}, {0: "N"}); report(p, t0)

    # A ViT at the size a CPU test affords: LayerNormalization, attention MatMuls, GELU (Erf),
    # the class token's Concat/Expand and the shape arithmetic torch.onnx writes around them.
    net = torchvision.models.VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=2, hidden_dim=64,
                                               mlp_dim=128, num_classes=10)
    p = os.path.join(out, "vit_tiny.onnx")
    # torchvision zero-initialises the classifier head (logits would not depend on the image).
    torch.nn.init.normal_(net.heads.head.weight, std=0.5)
    torch.nn.init.normal_(net.heads.head.bias, std=0.1)
    net.eval()
    export(net, torch.from_numpy(calib64[:1]), p, 17, "input", "logits", {0: "N"}, {0: "N"}, grad=True); report(p, t0)

    net = Detector()
    params = sum(t.numel() for t in net.parameters())
    assert params < 1_000_000, params
    calibrate_bn(net, calibdet, batch=8, passes=1)
    hw = {0: "N", 2: "H", 3: "W"}
    p = os.path.join(out, "detector_op11.onnx")
    export(net, torch.from_numpy(calibdet[:1]), p, 11, "image", "prob", hw, hw)
    report(p, t0)
    p = os.path.join(out, "detector_op9.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch recommends opset 11 for Upsample: that is the point
        export(net, torch.from_numpy(calibdet[:1]), p, 9, "image", "prob", hw, hw)
    report(p, t0)
    print(f"real_exports: detector has {params} parameters", flush=True)

    # After the detector, so that adding it left the detector's random weights as they were.
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, batch_first=True)
    net = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    src = torch.from_numpy(np.random.RandomState(4).randn(16, 10, 32).astype(np.float32))
    with torch.no_grad():
        expected = net(src).numpy()
    p = os.path.join(out, "encoder_scripted.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(net).save(p + ".tmp")
    os.replace(p + ".tmp", p)
    report(p, t0)
    p = os.path.join(out, "encoder_io.npz")
    np.savez(p + ".tmp.npz", src=src.numpy(), expected=expected)
    os.replace(p + ".tmp.npz", p)
    report(p, t0)

    torch.manual_seed(5)   # its own seed: the models above keep their weights
    lines = torch.rand(8, 1, 32, 64)
    for name, cell, bidirectional in (("crnn_lstm.onnx", "lstm", True), ("crnn_gru.onnx", "gru", False)):
        net = CRNN(cell, bidirectional)
        calibrate_bn(net, lines.numpy(), batch=8, passes=1)
        p = os.path.join(out, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # torch warns that an LSTM's batch size is dynamic
            export(net, lines[:1], p, 13, "image", "logits", {0: "N", 3: "W"}, {0: "T", 1: "N"})
        report(p, t0)


if __name__ == "__main__":
    main()
