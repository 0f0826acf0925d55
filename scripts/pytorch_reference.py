#!/usr/bin/env python3
"""PyTorch itself as the reference for the functions that have no libtorch op.

`tch-parity check`, `fuzz` and `regen` run this with the Python environment scripts/provision.sh
installed (torch 2.13.0, torchvision 0.28.0), one process per run: it reads one JSON list of
requests per line on stdin and answers each line with one line holding a JSON list of results,
one per request, until stdin closes.

  request: {"function": NAME, "dtype": "float32"|"float64"|"float16"|"bfloat16", "reductions": [...],
            "options": {...}, "upstream": "quarters",
            "inputs": [{"name", "dtype": "float"|"int64"|"bool", "shape", "values", "requires_grad"}]}
  result:  {"versions": {...}, "outputs": {REDUCTION: [{"name", "shape", "data"}] | {"error": MESSAGE}}}

Float inputs arrive as the exact float64 value of each element at the run's dtype, so converting
them loses nothing; outputs leave as float64 text that reads back exactly. NaN and infinities
are the strings "NaN", "inf", "-inf". For an unreduced output the gradient is taken of
sum(g * loss) with g = 0.25, 0.5, 0.75, 1, 0.25, ... as the Rust harness does.

An optimizer request runs a torch.optim optimizer for a number of steps and records, after every
step, each parameter, each of its state buffers and the gradient it followed:

  request: {"kind": "optimizer", "optimizer": ID, "dtype", "foreach": bool, "steps": N,
            "groups": [{"params": [INDEX, ...], "options": {...}}], "lr_schedule": [[K, LR], ...],
            "params": [TENSOR, ...], "no_grad": [[INDEX, [STEP, ...]], ...], then either "objective": ID with "data": [TENSOR, ...]
            (the gradient of that objective, as src/catalog/objectives.rs computes it) or
            "gradients": [[TENSOR per parameter] per step]}
  result:  {"versions": {...}, "series": {"param.x": {"shape": [N, ...], "data": [...]}, ...}}
           | {"versions": {...}, "error": MESSAGE}

Options arrive under the Rust catalogue's flat names (beta1 and beta2, not betas) and become
torch.optim's arguments here. An optimizer request may also carry "scheduler" (a configuration,
below), stepped after every optimizer step, and "metrics" (ReduceLROnPlateau's, one per step).

A schedule request runs a torch.optim.lr_scheduler scheduler on its own, over SGD, Adam or
Adagrad groups (one parameter each) at the given rates, and records every group's rate (and with
"momentum", its momentum or beta1) after construction and after every step:

  request: {"kind": "schedule", "scheduler": CONFIG, "optimizer": "sgd"|"adam"|"adagrad",
            "lrs": [LR per group], "steps": N, "epochs": [[STEP, EPOCH], ...],
            "metrics": [METRIC per step], "momentum": bool}
  CONFIG:  {"op": ID, "options": {...}, "schedulers": [CONFIG, ...]}
  result:  {"versions": {...}, "series": {"lr.0": {"shape": [N + 1], "data": [...]}, ...}}
           | {"versions": {...}, "error": MESSAGE}

LambdaLR's and MultiplicativeLR's lr_lambda names a function of src/catalog/schedulers.rs:
{"constant": c}, {"power": gamma}, {"linear_warmup": n}.

A clip request runs torch.nn.utils.clip_grad_norm_ or clip_grad_value_ over parameters holding
the given gradients (dtype "none": a parameter without one) and records the total norm and every
gradient after clipping:

  request: {"kind": "clip", "function": "clip_grad_norm_"|"clip_grad_value_", "dtype",
            "options": {...}, "grads": [TENSOR, ...]}
  result:  {"versions": {...}, "series": {"total_norm": {...}, "grad.a": {...}, ...}}
"""
import importlib.util
import inspect
import json
import math
import os
import sys
import types
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_checkpoint  # noqa: E402  (beside this script)

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}


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


def second_order(names, leaves, grads):
    """grad2.NAME: the gradient of sum_i <grad_i, (i + 1) * quarters> with respect to each leaf
    (src/implementation/mod.rs, Derivatives::Second); or one "grad2" entry with the error."""
    terms = [(g * quarters(list(g.shape), g.dtype) * (i + 1)).sum() for i, g in enumerate(grads) if g.requires_grad]
    if not terms:
        return [flat(f"grad2.{name}", torch.zeros_like(t)) for name, t in zip(names, leaves)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    try:
        second = torch.autograd.grad(total, leaves, allow_unused=True)
    except Exception as error:  # no double backward: both sides must say so
        return [{"name": "grad2", "error": f"{type(error).__name__}: {error}"}]
    return [
        flat(f"grad2.{name}", torch.zeros_like(t) if s is None else s) for name, t, s in zip(names, leaves, second)
    ]


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
            leaves = [inputs[name] for name in wanted]
            second = dtype in (torch.float32, torch.float64)
            grads = torch.autograd.grad(scalar, leaves, create_graph=second)
            recorded += [flat(f"grad.{name}", g) for name, g in zip(wanted, grads)]
            if second:
                recorded += second_order(wanted, leaves, grads)
        outputs[reduction] = recorded
    return outputs


def optimizer_arguments(optimizer, options, foreach):
    """torch.optim's keyword arguments for the catalogue's flat options."""
    o = dict(options)
    if "beta1" in o:
        o["betas"] = (o.pop("beta1"), o.pop("beta2"))
    if optimizer == "rprop":
        o["etas"] = (o.pop("etaminus"), o.pop("etaplus"))
        o["step_sizes"] = (o.pop("step_size_min"), o.pop("step_size_max"))
    if optimizer == "adafactor":
        o["eps"] = (o.pop("eps1"), o.pop("eps2"))
    if optimizer == "lbfgs":
        o["line_search_fn"] = "strong_wolfe" if o.pop("strong_wolfe") else None
        # torch.optim.LBFGS fills max_eval in its defaults only, not in a group's options.
        if o.get("max_eval") is None:
            o["max_eval"] = o["max_iter"] * 5 // 4
    if optimizer == "muon":
        o["ns_coefficients"] = (o.pop("ns_a"), o.pop("ns_b"), o.pop("ns_c"))
        o["adjust_lr_fn"] = "match_rms_adamw" if o.pop("match_rms_adamw") else None
    if "foreach" in inspect.signature(getattr(torch.optim, OPTIMIZERS[optimizer])).parameters:
        o["foreach"] = foreach
    return o


OPTIMIZERS = {
    "sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad",
    "adadelta": "Adadelta", "adafactor": "Adafactor", "adamax": "Adamax", "asgd": "ASGD", "nadam": "NAdam",
    "radam": "RAdam", "rprop": "Rprop", "muon": "Muon", "sparse_adam": "SparseAdam", "lbfgs": "LBFGS",
}


def objective(name, params, data):
    """The objectives of src/catalog/objectives.rs, op for op."""
    F = torch.nn.functional
    if name == "l1":
        return F.l1_loss(params[0], data[0], reduction="sum")
    if name == "mse":
        return F.mse_loss(params[0], data[0], reduction="sum")
    if name == "smooth_l1":
        return F.smooth_l1_loss(params[0], data[0], reduction="sum", beta=1.0)
    if name == "cross_entropy":
        return F.cross_entropy(params[0], data[0])
    if name == "focal":
        x, t = params[0], data[0]
        p = x.sigmoid()
        ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        one_minus_p, one_minus_t = p.neg().add(1.0), t.neg().add(1.0)
        p_t = p.mul(t).add(one_minus_p.mul(one_minus_t))
        loss = ce.mul(p_t.neg().add(1.0).pow(2.0))
        alpha_t = t.mul(0.25).add(one_minus_t.mul(1.0 - 0.25))
        return alpha_t.mul(loss).sum()
    if name == "rosenbrock":
        x, y = params[0].select(0, 0), params[0].select(0, 1)
        return x.neg().add(1.0).square().add(y.sub(x.square()).square().mul(100.0))
    if name == "least_squares":
        # a·w in float32 and float64 as ATen's product and sum, not matmul: MKL's gemv differs
        # between CPU vendors (src/catalog/objectives.rs, matrix_vector).
        a, w = data[0], params[0]
        product = a.mul(w).sum(-1) if w.dtype in (torch.float32, torch.float64) else a.matmul(w)
        residual = product.add(params[1]).sub(data[1])
        return residual.square().sum().mul(0.5)
    if name == "linear_net":
        residual = data[0].matmul(params[0]).matmul(params[1]).sub(data[1])
        return residual.square().sum().mul(0.5)
    if name == "embedding":
        rows = F.embedding(data[0], params[0], sparse=True)
        return rows.sub(data[1]).square().sum().mul(0.5)
    if name == "linear_net_with_empty":
        residual = data[0].matmul(params[0]).matmul(params[1]).sub(data[1])
        return residual.square().sum().mul(0.5).add(params[2].sum())
    raise ValueError(f"unknown objective {name}")


SCHEDULERS = {
    "lambda_lr": "LambdaLR", "multiplicative_lr": "MultiplicativeLR", "step_lr": "StepLR",
    "multi_step_lr": "MultiStepLR", "constant_lr": "ConstantLR", "linear_lr": "LinearLR",
    "exponential_lr": "ExponentialLR", "polynomial_lr": "PolynomialLR", "cosine_annealing_lr": "CosineAnnealingLR",
    "cosine_annealing_warm_restarts": "CosineAnnealingWarmRestarts", "cyclic_lr": "CyclicLR",
    "one_cycle_lr": "OneCycleLR", "reduce_lr_on_plateau": "ReduceLROnPlateau", "sequential_lr": "SequentialLR",
    "chained_scheduler": "ChainedScheduler",
}


def named_lambda(spec):
    """The functions of src/catalog/schedulers.rs's NamedLambda, by name."""
    ((kind, arg),) = spec.items()
    if kind == "constant":
        return lambda epoch: arg
    if kind == "power":
        return lambda epoch: arg**epoch
    if kind == "linear_warmup":
        return lambda epoch: min(1.0, (epoch + 1) / arg)
    raise ValueError(f"unknown lr_lambda {kind}")


def build_scheduler(config, optimizer):
    """A scheduler configuration's torch.optim.lr_scheduler object, its children built first."""
    S = torch.optim.lr_scheduler
    op, options = config["op"], dict(config.get("options", {}))
    if op in ("lambda_lr", "multiplicative_lr"):
        f = options["lr_lambda"]
        options["lr_lambda"] = [named_lambda(x) for x in f] if isinstance(f, list) else named_lambda(f)
    children = [build_scheduler(c, optimizer) for c in config.get("schedulers", [])]
    if op == "sequential_lr":
        return S.SequentialLR(optimizer, children, **options)
    if op == "chained_scheduler":
        return S.ChainedScheduler(children, optimizer=optimizer)
    return getattr(S, SCHEDULERS[op])(optimizer, **options)


def step_scheduler(scheduler, metric=None, epoch=None):
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    elif epoch is not None:
        scheduler.step(int(epoch) if float(epoch).is_integer() else epoch)
    else:
        scheduler.step()


def run_schedule(request):
    lrs = request["lrs"]
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}[request["optimizer"]]
    optimizer = cls([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    epochs = dict((k, e) for k, e in request.get("epochs", []))
    metrics = request.get("metrics", [])
    series = {}

    def put():
        for g, group in enumerate(optimizer.param_groups):
            series.setdefault(f"lr.{g}", []).append(float(group["lr"]))
            if request.get("momentum"):
                m = group["betas"][0] if "betas" in group else group["momentum"]
                series.setdefault(f"momentum.{g}", []).append(float(m))

    try:
        with warnings.catch_warnings():
            # Stepping a scheduler without the optimizer warns; the rates are what is asked for.
            warnings.simplefilter("ignore")
            scheduler = build_scheduler(request["scheduler"], optimizer)
            put()
            for k in range(1, request["steps"] + 1):
                step_scheduler(scheduler, metrics[k - 1] if metrics else None, epochs.get(k))
                put()
    except Exception as error:  # the run's answer, not fatal for the worker
        return {"error": f"{type(error).__name__}: {error}"}
    return {"series": {label: {"shape": [len(v)], "data": [encode(x) for x in v]} for label, v in series.items()}}


def run_clip(request):
    dtype = DTYPES[request["dtype"]]
    params, names = [], []
    for spec in request["grads"]:
        names.append(spec["name"])
        if spec["dtype"] == "none":
            params.append(torch.zeros(1, dtype=dtype, requires_grad=True))
            continue
        grad = tensor_of(spec, dtype).detach()
        p = torch.zeros_like(grad).requires_grad_(True)
        p.grad = grad.clone()
        params.append(p)
    o = request["options"]
    try:
        series = {}
        if request["function"] == "clip_grad_norm_":
            total = torch.nn.utils.clip_grad_norm_(
                params, o["max_norm"], norm_type=o["norm_type"], error_if_nonfinite=o["error_if_nonfinite"]
            )
            series["total_norm"] = {"shape": [], "data": [encode(float(total))]}
        else:
            torch.nn.utils.clip_grad_value_(params, o["clip_value"])
        for name, p in zip(names, params):
            if p.grad is not None:
                g = p.grad
                series[f"grad.{name}"] = {"shape": list(g.shape), "data": [encode(x) for x in g.double().flatten().tolist()]}
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return {"series": series}


def run_grad_scaler(request):
    """torch.amp.GradScaler over SGD (lr 0.1) for a sequence of steps: at step k each parameter's
    gradient is scaler.scale(GRADS[k][i]) (what backward of the scaled loss gives for a
    power-of-two scale), "inject": [[K, VALUE], ...] writing VALUE over the first element of the
    first parameter's gradient at step K; then scaler.step, update.
    Records after every step each gradient (unscaled), each parameter, found_inf and the scale."""
    dtype = DTYPES[request["dtype"]] if request["dtype"] in DTYPES else getattr(torch, request["dtype"])
    params = [tensor_of(p, torch.float64).to(dtype).detach().requires_grad_(True) for p in request["params"]]
    optimizer = torch.optim.SGD(params, lr=0.1)
    series = {}

    def put(label, values):
        series.setdefault(label, []).append(values)

    try:
        scaler = torch.amp.GradScaler("cpu", **request["options"])
        for step, grads in enumerate(request["grads"], start=1):
            for i, (p, g) in enumerate(zip(params, grads)):
                p.grad = scaler.scale(tensor_of(g, torch.float64).to(dtype)).detach()
                for k, value in request.get("inject", []):
                    if k == step and i == 0:
                        p.grad.view(-1)[0] = decode(value)
            scaler.step(optimizer)
            state = scaler._per_optimizer_states[id(optimizer)]
            put("found_inf", [float(sum(v.item() for v in state["found_inf_per_device"].values()))])
            scaler.update()
            put("scale", [scaler.get_scale()])
            for i, p in enumerate(params):
                put(f"grad.{i}", p.grad.double().flatten().tolist())
                put(f"param.{i}", p.detach().double().flatten().tolist())
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "series": {
            label: {"shape": [len(steps), len(steps[0])], "data": [encode(x) for v in steps for x in v]}
            for label, steps in series.items()
        }
    }


def run_optimizer(request):
    """A torch.optim run; with "checkpoint": {"save_at": K, "path": P} it also saves its state
    after step K (scripts/torch_checkpoint.py), with {"load_at": K, "path": P} it loads one and
    runs steps K + 1 to N only."""
    dtype = DTYPES[request["dtype"]]
    specs = request["params"]
    params = [tensor_of(spec, dtype).detach().requires_grad_(True) for spec in specs]
    names = [spec["name"] for spec in specs]
    kind = request["optimizer"]
    groups = [
        {"params": [params[i] for i in g["params"]], **optimizer_arguments(kind, g["options"], request["foreach"])}
        for g in request["groups"]
    ]
    series = {}

    def put(label, t):
        # Kept as tensors and converted once at the end: a Python list per buffer per step costs
        # more than the step itself.
        series.setdefault(label, []).append(t.detach().clone())

    try:
        # The first group's options are also the constructor's: torch.optim validates only
        # those (a group's own options are taken as given).
        defaults = optimizer_arguments(kind, request["groups"][0]["options"], request["foreach"])
        optimizer = getattr(torch.optim, OPTIMIZERS[kind])(groups, **defaults)
        scheduler = build_scheduler(request["scheduler"], optimizer) if request.get("scheduler") else None
        metrics = request.get("metrics", [])
        data = [tensor_of(spec, dtype) for spec in request.get("data", [])]
        checkpoint = request.get("checkpoint") or {}
        scaler = torch.amp.GradScaler("cpu", **request["grad_scaler"]) if request.get("grad_scaler") else None
        first = 1
        if "load_at" in checkpoint:
            torch_checkpoint.load(checkpoint["path"], optimizer, scheduler)
            first = checkpoint["load_at"] + 1
        for step in range(first, request["steps"] + 1):
            if "gradients" in request:
                grads = [tensor_of(g, dtype) for g in request["gradients"][step - 1]]
                if request.get("sparse_gradients"):
                    grads = [g.to_sparse(1) for g in grads]
            else:
                with torch.enable_grad():
                    loss = objective(request["objective"], params, data)
                    grads = torch.autograd.grad(loss, params)
            skipped = {i for i, steps in request.get("no_grad", []) if step in steps}
            for i, (p, g) in enumerate(zip(params, grads)):
                p.grad = None if i in skipped else g.detach().clone()
                if scaler is not None and p.grad is not None:
                    # What backward of scaler.scale(loss) gives for a power-of-two scale.
                    p.grad = scaler.scale(p.grad)
                    for k, j, value in request.get("inject", []):
                        if k == step and j == i:
                            p.grad.view(-1)[0] = decode(value)
            if kind == "lbfgs":

                def closure():
                    with torch.enable_grad():
                        loss = objective(request["objective"], params, data)
                        for p, g in zip(params, torch.autograd.grad(loss, params)):
                            p.grad = g.detach()
                    return loss

                optimizer.step(closure)
            elif scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            for name, p, g in zip(names, params, grads):
                put(f"param.{name}", p)
                if not g.is_sparse:  # (a replay of a sparse run recomputes its gradients)
                    put(f"grad.{name}", g)
                for key, value in optimizer.state[p].items():
                    if isinstance(value, torch.Tensor):
                        put(f"{key}.{name}", value)
            if scheduler is not None:
                step_scheduler(scheduler, metrics[step - 1] if metrics else None)
            if checkpoint.get("save_at") == step:
                torch_checkpoint.save(checkpoint["path"], optimizer, scheduler)
            for k, lr in request["lr_schedule"]:
                if k == step:
                    for group in optimizer.param_groups:
                        group["lr"] = lr
    except Exception as error:  # the run's answer, not fatal for the worker
        return {"error": f"{type(error).__name__}: {error}"}
    return {"series": {label: encode_steps(steps) for label, steps in series.items()}}


def encode_steps(steps):
    """A series recorded step by step as {"shape": [steps, ...], "data": [...]}."""
    whole = torch.stack(steps).double()
    values = whole.flatten().tolist()
    data = values if bool(torch.isfinite(whole).all()) else [encode(x) for x in values]
    return {"shape": list(whole.shape), "data": data}


def main():
    # The tensors are small: one thread, so that idle OpenMP workers do not spin on the core the
    # Rust side is using.
    torch.set_num_threads(1)
    table, versions = functions()
    for line in sys.stdin:
        if not line.strip():
            continue
        requests = json.loads(line)
        unknown = sorted({r["function"] for r in requests if r.get("kind") is None} - table.keys())
        unknown += sorted({r["optimizer"] for r in requests if r.get("kind") == "optimizer"} - OPTIMIZERS.keys())
        if unknown:
            sys.exit(f"pytorch_reference.py: unknown function(s): {', '.join(unknown)}")
        runs = {"optimizer": run_optimizer, "schedule": run_schedule, "clip": run_clip, "grad_scaler": run_grad_scaler}
        results = [
            {"versions": versions, **runs[r["kind"]](r)}
            if r.get("kind") in runs
            else {"versions": versions, "outputs": record(r, table)}
            for r in requests
        ]
        sys.stdout.write(json.dumps(results, allow_nan=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
