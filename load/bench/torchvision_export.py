"""torchvision's ResNet-50 with given weights, exported by torch.onnx.export (for npm run bench:model).

Usage: /usr/bin/python3 load/bench/torchvision_export.py WEIGHTS.safetensors OUT.onnx OUT_LOGITS.json
Reads torchvision-named F32 tensors (the safetensors format parsed by hand: no pip packages here),
loads them into torchvision.models.resnet50(), exports it at opset 17 with a dynamic batch, and
writes torch's own logits for the bench's probe input so the bench can check both files agree.
"""

import json
import struct
import sys

import numpy as np
import torch
import torchvision


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        assert entry["dtype"] == "F32", f"{name}: only F32 is expected here"
        tensors[name] = torch.from_numpy(np.frombuffer(body[begin:end], dtype="<f4").reshape(entry["shape"]).copy())
    return tensors


def main(weights, out, logits_out):
    model = torchvision.models.resnet50()
    missing, unexpected = model.load_state_dict(read_safetensors(weights), strict=False)
    assert not unexpected and all(m.endswith("num_batches_tracked") for m in missing), (missing, unexpected)
    model.eval()
    probe = torch.linspace(-2, 2, 2 * 3 * 224 * 224).reshape(2, 3, 224, 224)
    with torch.no_grad():
        torch.onnx.export(model, probe, out, opset_version=17, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
        logits = model(probe).numpy().astype(np.float64)
    json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "logits": logits.tolist()}, open(logits_out, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:4])
