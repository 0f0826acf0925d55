#!/usr/bin/env python3
"""PyTorch itself as the reference for the functions that have no libtorch op.

`tch-parity check`, `fuzz` and `regen` run this with the Python environment scripts/provision.sh
installed (torch 2.13.0, torchvision 0.28.0), one process per run: it reads one JSON list of
requests per line on stdin and answers each line with one line holding a JSON list of results,
one per request, until stdin closes.

  request: {"function": NAME, "dtype": "float32"|"float64", "reductions": [...],
            "options": {...}, "upstream": "quarters",
            "inputs": [{"name", "dtype": "float"|"int64"|"bool", "shape", "values", "requires_grad"}]}
  result:  {"versions": {...}, "outputs": {REDUCTION: [{"name", "shape", "data"}] | {"error": MESSAGE}}}

Float inputs arrive as the exact float64 value of each element at the run's dtype, so converting
them loses nothing; outputs leave as float64 text that reads back exactly. NaN and infinities
are the strings "NaN", "inf", "-inf". For an unreduced output the gradient is taken of
sum(g * loss) with g = 0.25, 0.5, 0.75, 1, 0.25, ... as the Rust harness does.
"""
import importlib.util
import json
import math
import os
import sys
import types

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def torchvision_module(name):
    """A module of torchvision loaded from its own file, without running torchvision/__init__.py,
    which imports every model, dataset and image library (1.4 s of a 2.7 s start here). The code
    is torchvision's own; only the package shells around it, and its API-usage logging
    (`torchvision.utils._log_api_usage_once`, telemetry that does not touch values), are stubs."""
    if name in sys.modules:
        return sys.modules[name]
    root = TORCHVISION_ROOT
    for package, path in [("torchvision", root), ("torchvision.ops", os.path.join(root, "ops"))]:
        if package not in sys.modules:
            shell = types.ModuleType(package)
            shell.__path__ = [path]
            sys.modules[package] = shell
    if "torchvision.utils" not in sys.modules:
        utils = types.ModuleType("torchvision.utils")
        utils._log_api_usage_once = lambda obj: None
        sys.modules["torchvision.utils"] = utils
    path = os.path.join(root, *name.split(".")[1:]) + ".py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


# Found before any shell is put in sys.modules (find_spec does not import the package).
TORCHVISION_ROOT = os.path.dirname(importlib.util.find_spec("torchvision").origin)


def functions():
    F = torch.nn.functional

    def focal(inputs, options, reduction):
        sigmoid_focal_loss = torchvision_module("torchvision.ops.focal_loss").sigmoid_focal_loss
        return sigmoid_focal_loss(
            inputs["input"], inputs["target"], alpha=options["alpha"], gamma=options["gamma"], reduction=reduction
        )

    def gaussian_nll(inputs, options, reduction):
        return F.gaussian_nll_loss(
            inputs["input"], inputs["target"], inputs["var"], full=options["full"], eps=options["eps"], reduction=reduction
        )

    def multilabel_soft_margin(inputs, options, reduction):
        return F.multilabel_soft_margin_loss(inputs["input"], inputs["target"], weight=inputs.get("weight"), reduction=reduction)

    def triplet_with_distance(inputs, options, reduction):
        distance = (lambda x, y: 1 - F.cosine_similarity(x, y)) if options["cosine_distance"] else None
        return F.triplet_margin_with_distance_loss(
            inputs["anchor"], inputs["positive"], inputs["negative"],
            distance_function=distance, margin=options["margin"], swap=options["swap"], reduction=reduction,
        )

    table = {
        "torchvision.ops.sigmoid_focal_loss": focal,
        "torch.nn.functional.gaussian_nll_loss": gaussian_nll,
        "torch.nn.functional.multilabel_soft_margin_loss": multilabel_soft_margin,
        "torch.nn.functional.triplet_margin_with_distance_loss": triplet_with_distance,
    }
    torchvision_version = torchvision_module("torchvision.version").__version__
    return table, {"torch": torch.__version__, "torchvision": torchvision_version}


def decode(x):
    return {"NaN": math.nan, "inf": math.inf, "-inf": -math.inf}.get(x, x) if isinstance(x, str) else x


def encode(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def tensor_of(spec, dtype):
    values = [decode(v) for v in spec["values"]]
    if spec["dtype"] == "float":
        t = torch.tensor(values, dtype=torch.float64).to(dtype)
    elif spec["dtype"] == "int64":
        t = torch.tensor(values, dtype=torch.int64)
    else:
        t = torch.tensor(values, dtype=torch.bool)
    t = t.reshape(spec["shape"])
    return t.requires_grad_(bool(spec.get("requires_grad")))


def quarters(shape, dtype):
    n = math.prod(shape)
    return ((torch.arange(n) % 4 + 1).to(dtype) / 4).reshape(shape)


def flat(name, t):
    return {"name": name, "shape": list(t.shape), "data": [encode(x) for x in t.detach().double().flatten().tolist()]}


def record(request, table):
    fn = table[request["function"]]
    dtype = DTYPES[request["dtype"]]
    outputs = {}
    for reduction in request["reductions"]:
        inputs = {spec["name"]: tensor_of(spec, dtype) for spec in request["inputs"]}
        try:
            out = fn(inputs, request["options"], reduction)
        except Exception as error:  # recorded for the case, not fatal for the run
            outputs[reduction] = {"error": f"{type(error).__name__}: {error}"}
            continue
        recorded = [flat("output", out)]
        wanted = [spec["name"] for spec in request["inputs"] if spec.get("requires_grad")]
        if wanted:
            scalar = out if out.dim() == 0 else (out * quarters(list(out.shape), out.dtype)).sum()
            grads = torch.autograd.grad(scalar, [inputs[name] for name in wanted])
            recorded += [flat(f"grad.{name}", g) for name, g in zip(wanted, grads)]
        outputs[reduction] = recorded
    return outputs


def main():
    # The tensors are small: one thread, so that idle OpenMP workers do not spin on the core the
    # Rust side is using.
    torch.set_num_threads(1)
    table, versions = functions()
    for line in sys.stdin:
        if not line.strip():
            continue
        requests = json.loads(line)
        unknown = sorted({r["function"] for r in requests} - table.keys())
        if unknown:
            sys.exit(f"pytorch_reference.py: unknown function(s): {', '.join(unknown)}")
        results = [{"versions": versions, "outputs": record(r, table)} for r in requests]
        sys.stdout.write(json.dumps(results, allow_nan=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
