//! Sigmoid and the binary cross-entropy losses (seed §2.1).

use super::lanes::{log_sigmoid_backward_block, log_sigmoid_block, map_blocks, Element, Lane, BLOCK};
use super::scalar_loop::{bf16_from_f32, by_float_kind, map2, map2_as, map3_as, Scalar, ScalarFn2};
use super::{
    check_broadcasts_to, check_floating, check_same_kind, check_same_shape, check_unit_interval, weight_and_reduce,
    weighted, with_backward_formula, Reduction,
};
use crate::error::Result;
use crate::ffi::grad_enabled;
use crate::ffi::VectorMath;
use tch::{Kind, Tensor};

/// libtorch clamps each log term of BCE at −100, so a probability of exactly 0 or 1 gives a
/// finite loss.
const LOG_CLAMP: f64 = -100.0;

/// libtorch's Loss.cpp `EPSILON` (BCE's backward, cosine embedding's norms) is a C++ `float`, which
/// stays the float value `1e-12f` even in float64 (so there 1/ε = 1000000003995.8).
pub(crate) const LOSS_EPSILON: f64 = 1e-12_f32 as f64;

/// `1 / (1 + exp(−x))`, in that form, as libtorch computes it: for x below about −88 (float32)
/// `exp(−x)` overflows to +inf and the result is exactly 0, the right limit (an `exp(−|x|)`
/// form would give the subnormal value instead, millions of ulp from libtorch's 0).
/// Its gradient is `y·(1 − y)`, as libtorch's `sigmoid_backward`; autograd through the
/// division would give inf/inf = NaN where `exp(−x)` overflows.
///
/// Integer and bool inputs are promoted to float32, as libtorch promotes them.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let x = &super::row_major(x)?;
    if check_floating("input", x).is_err() {
        return sigmoid(&x.f_to_kind(tch::Kind::Float)?);
    }
    // libtorch's sigmoid kernel computes half inputs in float and rounds once. Its backward is
    // (g·(1 − y))·y from that rounded output: per operation in float16 (each product rounded),
    // in float32 for bfloat16 (rounded once), and as such in float32 and float64 (measured).
    let kind = x.kind();
    let y = sigmoid_value(&x.f_detach()?)?;
    let saved = y.shallow_clone();
    with_backward_formula("SigmoidBackward", &y, &[x], move |g, _, inputs| {
        if !grad_enabled() {
            if let Some(grad) = sigmoid_backward_loop(g, &saved)? {
                return Ok(grad);
            }
        }
        // Recomputed from the attached input when the gradient must be differentiable.
        let y = if grad_enabled() { sigmoid(&inputs[0])? } else { saved.shallow_clone() };
        let (g, y) = match kind {
            tch::Kind::BFloat16 => (g.f_to_kind(tch::Kind::Float)?, y.f_to_kind(tch::Kind::Float)?),
            _ => (g.shallow_clone(), y),
        };
        Ok(g.f_mul(&y.f_neg()?.f_add_scalar(1.0)?)?.f_mul(&y)?.f_to_kind(kind)?)
    })
}

/// Sigmoid's backward `(g·(1 − y))·y` in one pass, the same arithmetic as the tensor operations:
/// in the dtype for float32 and float64, in float32 rounded once for bfloat16. `None` for
/// float16, whose per-operation rounding the tensor operations do faster than `half`'s software
/// conversions.
fn sigmoid_backward_loop(g: &Tensor, y: &Tensor) -> Result<Option<Tensor>> {
    Ok(match y.kind() {
        tch::Kind::Float => Some(map2_as::<f32>(g, y, |g, y| g * (1.0 - y) * y)?),
        tch::Kind::Double => Some(map2_as::<f64>(g, y, |g, y| g * (1.0 - y) * y)?),
        tch::Kind::BFloat16 => Some(map2_as::<half::bf16>(g, y, |g, y| {
            let y = y.to_f32();
            bf16_from_f32(g.to_f32() * (1.0 - y) * y)
        })?),
        _ => None,
    })
}

fn sigmoid_value(x: &Tensor) -> Result<Tensor> {
    // One kernel in libtorch: float16 and bfloat16 computed in float, rounded once; here in one
    // pass too, with the kernel's exp.
    fn one_pass<E: Element<Compute = f32>>(x: &Tensor) -> Result<Tensor> {
        let capability = crate::ffi::cpu_capability().at_most_avx2();
        map_blocks::<E>(&[x], |inputs, out| {
            for (o, &v) in out.iter_mut().zip(inputs[0]) {
                *o = -v;
            }
            f32::exp_in_place(out, capability);
            for o in out.iter_mut() {
                *o = 1.0 / (1.0 + *o);
            }
        })
    }
    let x = x.f_detach()?;
    match x.kind() {
        Kind::Half => return one_pass::<half::f16>(&x.f_contiguous()?),
        Kind::BFloat16 => return one_pass::<half::bf16>(&x.f_contiguous()?),
        _ => {}
    }
    super::in_opmath(&x, |x| {
        // One buffer, four in-place passes.
        let mut y = x.f_neg()?;
        let _ = y.f_exp_()?;
        let _ = y.f_add_scalar_(1.0)?;
        let _ = y.f_reciprocal_()?;
        Ok(y)
    })
}

/// `log σ(x)`, stable, with libtorch's `log_sigmoid_backward`: with `z = exp(−|x|)`,
/// `(x < 0 ? 1 − z/(1 + z) : z/(1 + z))·g`, with `z` held in the input's dtype (the buffer
/// libtorch's forward keeps) and the rest computed in float32 for float16 and bfloat16, rounded
/// once, as its kernel does (autograd through `min` and `|·|` would be wrong at 0; a local
/// gradient rounded to the half dtype before the product is 4-5 ulps off, and a z kept in float32
/// differs in one element in eight).
pub(crate) fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let value = log_sigmoid_value(x)?;
    let kind = x.kind();
    with_backward_formula("LogSigmoidBackward", &value, &[x], move |g, _, inputs| {
        if !grad_enabled() && g.kind() == kind && g.size() == inputs[0].size() {
            // The kernel in one pass.
            let (x, g) = (inputs[0].f_detach()?.f_contiguous()?, g.f_contiguous()?);
            let capability = crate::ffi::cpu_capability().at_most_avx2();
            return by_float_kind!(kind, "log_sigmoid backward", |E| map_blocks::<E>(&[&x, &g], |inputs, out| {
                log_sigmoid_backward_block::<E>(inputs[0], inputs[1], out, capability)
            }));
        }
        // Differentiable: the same operations as tensor operations.
        let widen = |t: &Tensor| match kind {
            tch::Kind::Half | tch::Kind::BFloat16 => t.f_to_kind(tch::Kind::Float),
            _ => Ok(t.shallow_clone()),
        };
        // z = exp(−|x|) is the buffer libtorch's forward kept, in the input's dtype. −|x| is
        // written where(x < 0, x, −x): the same values, and, under create_graph, a derivative
        // of −1 at 0 where autograd through |x| gives 0, which made the second derivative 0
        // there instead of −σ(0)(1 − σ(0)) = −1/4 (the fuzzer found it).
        let x = &inputs[0];
        let z = widen(&x.f_where_self(&x.f_lt(0.0)?, &x.f_neg()?)?.f_exp()?)?;
        let (x, g) = (widen(&inputs[0])?, widen(g)?);
        let ratio = z.f_div(&z.f_add_scalar(1.0)?)?;
        let local = ratio.f_neg()?.f_add_scalar(1.0)?.f_where_self(&x.f_lt(0.0)?, &ratio)?;
        Ok(local.f_mul(&g)?.f_to_kind(kind)?)
    })
}

/// σ(x), through the node of [`sigmoid`] when a backward pass is creating a graph (so that a
/// gradient built from it is differentiable), and without a node otherwise.
pub(crate) fn differentiable_sigmoid(x: &Tensor) -> Result<Tensor> {
    match grad_enabled() {
        true => sigmoid(x),
        false => sigmoid_value(x),
    }
}

/// log σ(x), as [`differentiable_sigmoid`] gives σ(x).
fn differentiable_log_sigmoid(x: &Tensor) -> Result<Tensor> {
    match grad_enabled() {
        true => log_sigmoid(x),
        false => log_sigmoid_value(x),
    }
}

/// `log(sigmoid(x)) = min(x, 0) − log1p(exp(−|x|))`, finite for every finite x: libtorch's
/// kernel in one pass, with its exp and log1p (float16 and bfloat16 computed in float32, rounded
/// once).
fn log_sigmoid_value(x: &Tensor) -> Result<Tensor> {
    let x = x.f_detach()?.f_contiguous()?;
    let capability = crate::ffi::cpu_capability().at_most_avx2();
    by_float_kind!(x.kind(), "log_sigmoid", |E| map_blocks::<E>(&[&x], |inputs, out| {
        log_sigmoid_block(inputs[0], out, capability)
    }))
}

/// The checks both BCE variants share: a floating input, a target of the same dtype and shape,
/// a weight that broadcasts to the input.
fn check_input_target_weight(input: &Tensor, target: &Tensor, weight: Option<&Tensor>) -> Result<()> {
    check_floating("input", input)?;
    check_same_kind("target", target, input)?;
    check_same_shape("target", target, input)?;
    match weight {
        Some(w) => check_broadcasts_to("weight", w, &input.size()),
        None => Ok(()),
    }
}

/// Binary cross entropy on probabilities, as `torch.nn.BCELoss`:
/// `−w·(t·max(ln x, −100) + (1 − t)·max(ln(1 − x), −100))`, with ln(1 − x) taken as
/// `log1p(−x)` (libtorch 2.13 does; at x = 1e-7 the naive form is 19% off), then the reduction
/// (`Mean` divides by the element count, not by the weight sum).
///
/// Rejects, as libtorch does: input or target outside [0, 1] (NaN included), a target of
/// another shape or dtype, a weight that does not broadcast to the input.
///
/// The gradient with respect to the input is libtorch's `g·(x − t) / max((1 − x)·x, 1e-12f)`,
/// with respect to the target `−logit(x)·g`, each then times the weight and, for `Mean`, divided
/// by the element count (±inf where x is exactly 0 or 1).
///
/// Every operation runs in the input's dtype, as libtorch's kernels do: they compute float16 and
/// bfloat16 elements with `c10::Half` arithmetic, which rounds after each operation (measured:
/// computing in float32 and rounding once differs from libtorch in a third of the elements). The
/// value is computed by a plain Rust loop, as libtorch's scalar kernel computes it with the C
/// library's log (tensor ops would use SLEEF's, which rounds otherwise: up to 3 float32 ulps). In
/// float16, 1e-12 rounds to 0, so the clamp does not guard 0/0 at x = t ∈ {0, 1}: NaN, as in
/// libtorch.
pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let weight = weight.map(super::row_major).transpose()?;
    let weight = weight.as_ref();
    check_input_target_weight(input, target, weight)?;
    check_unit_interval("input", input)?;
    check_unit_interval("target", target)?;

    let x = input.f_detach()?;
    let value = match x.kind() {
        // The scalar loop's C-library logs, which tensor ops do not reproduce in float32/float64
        // (SLEEF's vectorized logs, even computed in float64 and rounded, differ in 3% of
        // float32 elements).
        tch::Kind::Float | tch::Kind::Double => map2(&x, target, BceElement)?,
        // Rounded to the half dtype, SLEEF's and the C library's logs agree (measured on 1e5
        // elements), and tensor ops round after each operation as c10::Half does: the same bits,
        // several times faster than converting every operand in Rust.
        _ => {
            let t = target.f_detach()?;
            let log_x = x.f_log()?.f_clamp_min(LOG_CLAMP)?;
            let log_one_minus_x = x.f_neg()?.f_log1p()?.f_clamp_min(LOG_CLAMP)?;
            t.f_sub_scalar(1.0)?.f_mul(&log_one_minus_x)?.f_sub(&t.f_mul(&log_x)?)?
        }
    };
    let weight = weight.map(|w| w.f_detach()?.f_to_kind(x.kind())).transpose()?;
    let loss = reduction.apply(weighted(value, weight.as_ref())?)?;
    let numel = x.numel() as i64;
    with_backward_formula("BinaryCrossEntropyBackward", &loss, &[input, target], move |g, i, inputs| {
        let (x, t) = (&inputs[0], &inputs[1]);
        let input_gradient = |x: &Tensor, t: &Tensor, g: &Tensor| -> Result<Tensor> {
            let denominator = x.f_neg()?.f_add_scalar(1.0)?.f_mul(x)?.f_clamp_min(LOSS_EPSILON)?;
            Ok(g.f_mul(&x.f_sub(t)?)?.f_div(&denominator)?)
        };
        let grad = if i == 0 && grad_enabled() {
            // Under create_graph the input gradient carries libtorch's second-order formulas:
            // autograd through the clamp would give g/ε at x ∈ {0, 1}, where libtorch's
            // binary_cross_entropy_double_backward gives (x² − 2xt + t)·g/((x + ε)²(1 − x + ε)²).
            let value = tch::no_grad(|| input_gradient(x, t, g))?;
            // (The weight and the mean's division follow this node, so autograd applies them.)
            let node = "BinaryCrossEntropyBackwardBackward";
            with_backward_formula(node, &value, &[x, t, g], move |gg, j, ins| {
                let (x, t, g) = (&ins[0], &ins[1], &ins[2]);
                Ok(match j {
                    0 => {
                        let eps = 1e-12;
                        let numerator = x.f_mul(x)?.f_sub(&x.f_mul(t)?.f_mul_scalar(2.0)?)?.f_add(t)?;
                        let below = x.f_add_scalar(eps)?.f_square()?;
                        let above = x.f_neg()?.f_add_scalar(1.0)?.f_add_scalar(eps)?.f_square()?;
                        numerator.f_div(&below.f_mul(&above)?)?.f_mul(&gg.f_mul(g)?)?
                    }
                    1 => {
                        let denominator = x.f_neg()?.f_add_scalar(1.0)?.f_mul(x)?.f_clamp_min(LOSS_EPSILON)?;
                        gg.f_mul(g)?.f_neg()?.f_div(&denominator)?
                    }
                    _ => input_gradient(x, t, gg)?,
                })
            })?
        } else if i == 0 {
            match bce_gradient_in_one_pass(x, t, g)? {
                Some(grad) => grad,
                None => input_gradient(x, t, g)?,
            }
        } else {
            // libtorch's at::logit, log(x / (1 − x)): ±inf at x ∈ {0, 1}, as there.
            let logit = x.f_div(&x.f_neg()?.f_add_scalar(1.0)?)?.f_log()?;
            logit.f_neg()?.f_mul(g)?
        };
        weight_and_reduce(grad, weight.as_ref(), reduction, numel)
    })
}

/// BCE's input gradient as libtorch's backward kernel computes it, in one pass on its threads
/// (rather than seven tensor passes), rounding after each operation:
/// `(g·(x − t)) / max((1 − x)·x, ε)`, ε = 1e-12 (the max keeps NaN). float32 and float64 with
/// target and gradient of the input's dtype; `None` otherwise.
fn bce_gradient_in_one_pass(x: &Tensor, t: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
    if t.kind() != x.kind() || g.kind() != x.kind() {
        return Ok(None);
    }
    let (x, t, g) = (x.f_detach()?, t.f_detach()?, g.f_detach()?);
    macro_rules! element {
        ($t:ty) => {{
            let eps = LOSS_EPSILON as $t;
            map3_as::<$t>(&x, &t, &g, move |x, t, g| {
                let d = (1.0 - x) * x;
                (g * (x - t)) / if d < eps { eps } else { d }
            })?
        }};
    }
    Ok(match x.kind() {
        tch::Kind::Float => Some(element!(f32)),
        tch::Kind::Double => Some(element!(f64)),
        _ => None,
    })
}

/// One element of BCE as libtorch's scalar kernel computes it, rounding after each operation:
/// `(t − 1)·max(log1p(−x), −100) − t·max(log(x), −100)`.
struct BceElement;

impl ScalarFn2 for BceElement {
    fn call<T: Scalar>(&self, x: T, t: T) -> T {
        let clamp = T::from_f64(LOG_CLAMP);
        (t - T::from_f64(1.0)) * (-x).ln_1p().max_of(clamp) - t * x.ln().max_of(clamp)
    }
}

/// BCE with logits' value `(1 − t)·x − log σ(x)` for logits and targets of one dtype in one
/// pass, as libtorch's composition rounds it: log σ(x) = min(x, 0) − log1p(exp(−|x|)) as its
/// kernel computes it (with the same SLEEF exp and log1p; in float32 for float16 and bfloat16,
/// rounded), then 1 − t, `·x` and `− log σ(x)` each rounded to the dtype. Five passes over memory
/// become one. `None` for targets of another dtype.
fn bce_with_logits_value_in_one_pass(x: &Tensor, t: &Tensor) -> Result<Option<Tensor>> {
    fn run<E: Element>(x: &Tensor, t: &Tensor) -> Result<Tensor> {
        let capability = crate::ffi::cpu_capability().at_most_avx2();
        map_blocks::<E>(&[x, t], |inputs, out| {
            let (x, t) = (inputs[0], inputs[1]);
            let mut log_sigmoid = [E::Compute::ZERO; BLOCK];
            let log_sigmoid = &mut log_sigmoid[..x.len()];
            log_sigmoid_block(x, log_sigmoid, capability);
            E::round_block(log_sigmoid);
            // Each tensor op rounds to the dtype: (1 − t), ·x, − log σ(x).
            for (o, &t) in out.iter_mut().zip(t) {
                *o = E::Compute::ONE - t;
            }
            E::round_block(out);
            for (o, &v) in out.iter_mut().zip(x) {
                *o = *o * v;
            }
            E::round_block(out);
            for (o, &l) in out.iter_mut().zip(log_sigmoid.iter()) {
                *o = *o - l;
            }
        })
    }
    let (x, t) = (x.f_contiguous()?, t.f_contiguous()?);
    if x.kind() != t.kind() {
        return Ok(None);
    }
    by_float_kind!(x.kind(), "binary_cross_entropy_with_logits", |E| run::<E>(&x, &t).map(Some))
}

/// BCE with logits' input gradient `(σ(x) − t)·g` (divided by `mean_of` elements for `Mean`) in
/// one pass, as libtorch's `binary_cross_entropy_with_logits_backward` rounds it: σ(x) =
/// 1/(1 + exp(−x)) as its sigmoid kernel computes it (SLEEF's exp; in float32 for float16 and
/// bfloat16, rounded), then `− t`, `·g` and `/ N` each rounded to the dtype. `None` unless the
/// three tensors share a dtype.
fn bce_with_logits_input_gradient_in_one_pass(
    x: &Tensor,
    t: &Tensor,
    g: &Tensor,
    mean_of: Option<i64>,
) -> Result<Option<Tensor>> {
    fn run<E: Element>(x: &Tensor, t: &Tensor, g: &Tensor, mean_of: Option<i64>) -> Result<Tensor> {
        type A<E> = <E as Element>::Compute;
        let capability = crate::ffi::cpu_capability().at_most_avx2();
        map_blocks::<E>(&[x, t, g], |inputs, out| {
            let (x, t, g) = (inputs[0], inputs[1], inputs[2]);
            for (o, &v) in out.iter_mut().zip(x) {
                *o = -v;
            }
            A::<E>::exp_in_place(out, capability);
            for o in out.iter_mut() {
                *o = A::<E>::ONE / (A::<E>::ONE + *o);
            }
            // The sigmoid kernel's output, then each tensor op, rounded to the dtype.
            E::round_block(out);
            for (o, &t) in out.iter_mut().zip(t) {
                *o = *o - t;
            }
            E::round_block(out);
            for (o, &g) in out.iter_mut().zip(g) {
                *o = *o * g;
            }
            if let Some(n) = mean_of {
                E::round_block(out);
                let n = A::<E>::from_f64(n as f64);
                for o in out.iter_mut() {
                    *o = *o / n;
                }
            }
        })
    }
    if t.kind() != x.kind() || g.kind() != x.kind() {
        return Ok(None);
    }
    let (x, t, g) = (x.f_contiguous()?, t.f_contiguous()?, g.f_contiguous()?);
    by_float_kind!(x.kind(), "binary_cross_entropy_with_logits backward", |E| run::<E>(&x, &t, &g, mean_of).map(Some))
}

/// Binary cross entropy on logits, as `torch.nn.BCEWithLogitsLoss`:
/// `w·((1 − t)·x − (1 + (p − 1)·t)·log σ(x))` with `p` the positive-class weight (broadcast over
/// the last dimension), stable for any finite logit. Its gradient is libtorch's
/// `w·((p·t + 1 − t)·σ(x) − p·t)`.
pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let weight = weight.map(super::row_major).transpose()?;
    let weight = weight.as_ref();
    let pos_weight = pos_weight.map(super::row_major).transpose()?;
    let pos_weight = pos_weight.as_ref();
    // Unlike BCE on probabilities, libtorch takes a target of another float dtype here.
    check_floating("input", input)?;
    check_floating("target", target)?;
    check_same_shape("target", target, input)?;
    if let Some(w) = weight {
        check_broadcasts_to("weight", w, &input.size())?;
    }
    if let Some(p) = pos_weight {
        check_broadcasts_to("pos_weight", p, &input.size())?;
    }

    let (x, t) = (input.f_detach()?, target.f_detach()?);
    let kind = input.kind();
    let pos_weight = pos_weight.map(|p| p.f_detach()?.f_to_kind(kind)).transpose()?;
    let one_pass = match pos_weight {
        None => bce_with_logits_value_in_one_pass(&x, &t)?,
        Some(_) => None,
    };
    let value = match one_pass {
        Some(value) => value,
        None => {
            let log_sigmoid = log_sigmoid_value(&x)?;
            let log_weight = match &pos_weight {
                Some(p) => Some(p.f_sub_scalar(1.0)?.f_mul(&t)?.f_add_scalar(1.0)?),
                None => None,
            };
            let weighted_log_sigmoid = match &log_weight {
                Some(lw) => log_sigmoid.f_mul(lw)?,
                None => log_sigmoid.shallow_clone(),
            };
            // ATen writes (1 − t)·x − log σ(x)·(…) in place on (1 − t): the loss has the target's
            // dtype (a float16 target with a float32 input gives float16), each step rounded to it.
            let mut value = t.f_neg()?.f_add_scalar(1.0)?;
            let _ = value.f_mul_(&x)?;
            let _ = value.f_sub_(&weighted_log_sigmoid)?;
            value
        }
    };

    let weight = weight.map(|w| w.f_detach()?.f_to_kind(value.kind())).transpose()?;
    let loss = reduction.apply(weighted(value, weight.as_ref())?)?;
    let numel = x.numel() as i64;
    // libtorch's binary_cross_entropy_with_logits_backward and its target backward, operation by
    // operation: d/dx (p·t + 1 − t)·σ(x) − p·t, or σ(x) − t; d/dt −x, or log σ(−x) − p·log σ(x);
    // each times the upstream gradient, then the weight, then divided by N for `Mean`.
    let inputs = [input, target];
    with_backward_formula("BinaryCrossEntropyWithLogitsBackward", &loss, &inputs, move |g, i, inputs| {
        let (x, t) = (&inputs[0], &inputs[1]);
        let same_kind = t.kind() == x.kind() && g.kind() == x.kind();
        if i == 0 && pos_weight.is_none() && same_kind && !grad_enabled() {
            // (σ(x) − t)·g in one pass, with the division by N too when there is no weight.
            let mean_of = (reduction == Reduction::Mean && weight.is_none()).then_some(numel);
            if let Some(grad) = bce_with_logits_input_gradient_in_one_pass(x, t, g, mean_of)? {
                return match &weight {
                    None => Ok(grad),
                    Some(w) => weight_and_reduce(grad, Some(w), reduction, numel),
                };
            }
        }
        let local = match (i, &pos_weight) {
            (0, Some(p)) => {
                let pt = p.f_mul(t)?;
                pt.f_add_scalar(1.0)?.f_sub(t)?.f_mul(&differentiable_sigmoid(x)?)?.f_sub(&pt)?
            }
            (0, None) => differentiable_sigmoid(x)?.f_sub(t)?,
            (_, Some(p)) => {
                differentiable_log_sigmoid(&x.f_neg()?)?.f_sub(&differentiable_log_sigmoid(x)?.f_mul(p)?)?
            }
            (_, None) => x.f_neg()?,
        };
        weight_and_reduce(local.f_mul(g)?, weight.as_ref(), reduction, numel)
    })
}

#[cfg(test)]
#[path = "binary_tests.rs"]
mod tests;
