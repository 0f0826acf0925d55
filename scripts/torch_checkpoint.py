#!/usr/bin/env python3
"""PyTorch's side of tch-parity's checkpoints: a torch.optim optimizer's and scheduler's
state_dict() (and the parameters) as a safetensors file in the layout of
src/train/checkpoint.rs (README "Checkpoint layout"), and back.

  from torch_checkpoint import save, load
  save("run.safetensors", optimizer, scheduler)   # after step k
  load("run.safetensors", optimizer, scheduler)   # into a fresh optimizer and scheduler built
                                                  # as before; then go on from step k + 1

The parameters are saved and loaded too (params.<i>, in the optimizer's order) unless
with_params=False.

The safetensors format (8-byte little-endian header length, a JSON header, the raw bytes) is
read and written here with torch alone, so the provisioned environment needs no other package.

Tensors: state.<i>.<key>, state.<i>.<key>.<j> (lists), params.<i>. Metadata: format, optimizer,
param_groups, state (the values that are not tensors), scheduler_class and scheduler (JSON).
Non-finite floats in the JSON are "inf", "-inf", "NaN".
"""
import collections
import json
import math
import os
import struct
import tempfile

import torch

FORMAT = "tch-parity-checkpoint/1"
DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.bool: "BOOL",
}
TORCH_DTYPES = {name: dtype for dtype, name in DTYPES.items()}
# torch.optim's hyperparameters that are tuples (JSON has lists only).
TUPLES = ("betas", "etas", "step_sizes", "ns_coefficients", "eps")


def jsonable(x):
    """x with tuples as lists, Counters as dicts, tensors as numbers, non-finite floats as strings,
    functions as None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else ("NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf"))
    if isinstance(x, torch.Tensor):
        return jsonable(x.item())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return None


def decoded(x):
    """The inverse of jsonable for the values that matter: "inf", "-inf", "NaN" as floats."""
    if isinstance(x, str) and x in ("inf", "-inf", "NaN"):
        return float(x)
    if isinstance(x, dict):
        return {k: decoded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decoded(v) for v in x]
    return x


def write_safetensors(path, tensors, metadata):
    """Writes atomically: a temporary file in the same folder, then renamed over `path`."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous().clone()
        data = bytes(t.untyped_storage()) if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(dir=folder, delete=False) as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, path)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    metadata = header.pop("__metadata__", {})
    body, tensors = raw[8 + n :], {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        dtype, shape = TORCH_DTYPES[info["dtype"]], info["shape"]
        if end > start:
            tensors[name] = torch.frombuffer(bytearray(body[start:end]), dtype=dtype).reshape(shape).clone()
        else:
            tensors[name] = torch.empty(shape, dtype=dtype)
    return tensors, metadata


def parameters(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


def save(path, optimizer, scheduler=None, with_params=True):
    sd = optimizer.state_dict()
    tensors, plain = {}, {}
    for i, state in sd["state"].items():
        entry = {}
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"state.{i}.{key}"] = value
            elif isinstance(value, list):
                for j, item in enumerate(value):
                    if item is not None:
                        tensors[f"state.{i}.{key}.{j}"] = item if torch.is_tensor(item) else torch.tensor(item)
                entry[key] = {"tensors": len(value), "none": [j for j, item in enumerate(value) if item is None]}
            else:
                entry[key] = jsonable(value)
        plain[str(i)] = entry
    for i, p in enumerate(parameters(optimizer) if with_params else []):
        tensors[f"params.{i}"] = p
    metadata = {
        "format": FORMAT,
        "optimizer": type(optimizer).__name__,
        "param_groups": json.dumps(jsonable(sd["param_groups"])),
        "state": json.dumps(plain),
    }
    if scheduler is not None:
        metadata["scheduler_class"] = type(scheduler).__name__
        metadata["scheduler"] = json.dumps(jsonable(scheduler.state_dict()))
    write_safetensors(path, tensors, metadata)


def load(path, optimizer, scheduler=None):
    """Loads into a fresh optimizer and scheduler built as the saved ones were (PyTorch's recipe:
    optimizer, scheduler, then each load_state_dict). A hyperparameter the file lacks keeps the
    fresh optimizer's value (tch-parity writes torch's update hyperparameters, not its
    implementation flags such as foreach)."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    if metadata["optimizer"] != type(optimizer).__name__:
        raise ValueError(f"the checkpoint is for {metadata['optimizer']}, not {type(optimizer).__name__}")
    groups = decoded(json.loads(metadata["param_groups"]))
    for group, fresh in zip(groups, optimizer.param_groups):
        for key, value in fresh.items():
            if key != "params":
                group.setdefault(key, value)
        for key in TUPLES:
            if isinstance(group.get(key), list):
                group[key] = tuple(group[key])
    state, lists = {}, set()
    for i, entry in json.loads(metadata["state"]).items():
        values = {}
        for key, value in entry.items():
            if isinstance(value, dict) and "tensors" in value:
                values[key] = [tensors.get(f"state.{i}.{key}.{j}") for j in range(value["tensors"])]
                lists.update(f"state.{i}.{key}.{j}" for j in range(value["tensors"]))
            else:
                values[key] = decoded(value)
        state[int(i)] = values
    for name, t in tensors.items():
        if name.startswith("state.") and name not in lists:
            i, key = name[len("state.") :].split(".", 1)
            state.setdefault(int(i), {})[key] = t
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    if scheduler is not None:
        if metadata.get("scheduler_class") != type(scheduler).__name__:
            raise ValueError(f"the checkpoint's scheduler is {metadata.get('scheduler_class')}")
        scheduler.load_state_dict(decoded(json.loads(metadata["scheduler"])))
    with torch.no_grad():
        for i, p in enumerate(parameters(optimizer)):
            if f"params.{i}" in tensors:
                p.copy_(tensors[f"params.{i}"])
    return collections.namedtuple("Loaded", "tensors metadata")(tensors, metadata)
