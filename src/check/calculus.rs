//! Gradients against calculus: central differences in float64, the way
//! `torch.autograd.gradcheck` and `gradgradcheck` take them, so that a gradient both sides
//! agree on is also shown to be the derivative of the function they compute.
//!
//! For each input x that requires a gradient and each of its elements k,
//! ∂S/∂xₖ ≈ (S(x + ε·eₖ) − S(x − ε·eₖ)) / 2ε with ε = 1e-6, where S is what the analytic
//! gradient differentiates: Σ output·upstream (or the output itself when it is a scalar) for
//! the first order, Σᵢ ⟨gradᵢ, vᵢ⟩ for the second ([`Derivatives::Second`]). Each
//! implementation is differenced through its own forward. The analytic gradient must be within
//! gradcheck's defaults of it: |analytic − numerical| ≤ 1e-5 + 1e-3·|numerical|.
//!
//! A central difference is the derivative only where the function is smooth within ε. Where
//! the one-sided slopes (S(x + ε) − S(x))/ε and (S(x) − S(x − ε))/ε differ by more than the
//! tolerance (a kink of |x|, a clamp, a hinge, the knee of smooth L1 in the second order, the
//! edge of a domain), the element is moved off it, by ±1e-3·max(1, |x|) and then ±3e-3·…, and
//! both the analytic and the numerical gradient are taken at the moved inputs; the check says
//! which elements moved. An element that no move frees is left out, and the check says so.

use super::compare::compare;
use super::materialize;
use crate::catalog::LossSpec;
use crate::fixture::{Case, DType, Tolerance};
use crate::implementation::{upstream_weight, Derivatives, Evaluation, Implementation, LossInput};
use crate::loss::Reduction;
use tch::Tensor;

/// What a check against central differences compares against.
pub const CALCULUS: &str = "calculus";
/// gradcheck's default step.
pub const EPS: f64 = 1e-6;
/// gradcheck's default tolerance.
pub const TOLERANCE: Tolerance = Tolerance { rtol: 1e-3, atol: 1e-5 };
/// Moves tried, in order, for an element that sits on a kink, relative to max(1, |x|).
const MOVES: [f64; 4] = [1e-3, -1e-3, 3e-3, -3e-3];

/// One implementation's gradients of one order against central differences of its own forward.
pub struct Calculus {
    /// The comparison of each gradient ("grad.x" or "grad2.x") over the elements compared;
    /// `None` when every element was left out.
    pub compared: Vec<(String, Option<super::compare::Comparison>)>,
    /// What moved off a kink and what was left out, in words (empty: the case's own inputs).
    pub note: String,
}

/// Which element: input (its place among the inputs that require a gradient) and flat index.
type Element = (usize, i64);

struct Probe<'a> {
    implementation: &'a dyn Implementation,
    spec: &'static LossSpec,
    reduction: Reduction,
    /// The order of the gradients checked (1 or 2).
    order: usize,
    args: crate::catalog::Args,
    /// The inputs that require a gradient, flattened views into `args`.
    leaves: Vec<(String, Tensor)>,
}

impl Probe<'_> {
    fn evaluate(&self, derivatives: Derivatives) -> Evaluation {
        let input = LossInput::new(self.spec, &self.args, DType::Float64, self.reduction).with(derivatives);
        self.implementation.loss(&input)
    }

    /// S at the current inputs: the function whose gradient the checked order computes.
    fn s(&self) -> Result<f64, String> {
        let derivatives = if self.order == 1 { Derivatives::None } else { Derivatives::First };
        let outputs = match self.evaluate(derivatives) {
            Evaluation::Computed(outputs) => outputs,
            other => return Err(other.describe()),
        };
        let s = if self.order == 1 {
            // A scalar output is differentiated as it is; an unreduced one under the weights.
            let output = outputs.iter().find(|c| c.name == "output").ok_or("no output")?;
            if output.shape.is_empty() {
                output.values[0]
            } else {
                weighted(&output.values, 1.0)
            }
        } else {
            self.leaves
                .iter()
                .enumerate()
                .map(|(i, (name, _))| {
                    let grad = outputs.iter().find(|c| c.name == format!("grad.{name}")).ok_or("no gradient")?;
                    // A gradient read back as a scalar still has the leaf's weights.
                    Ok::<f64, &str>(weighted(&grad.values, i as f64 + 1.0))
                })
                .sum::<Result<f64, &str>>()?
        };
        if s.is_finite() {
            Ok(s)
        } else {
            Err(format!("S = {s}"))
        }
    }

    fn value(&self, (i, k): Element) -> f64 {
        self.leaves[i].1.double_value(&[k])
    }

    fn set(&self, (i, k): Element, x: f64) {
        let _guard = tch::no_grad_guard();
        let _ = self.leaves[i].1.get(k).fill_(x);
    }

    /// The central difference at an element, or why it does not give the derivative there:
    /// one-sided slopes that differ by more than the tolerance (a kink), a central difference
    /// over ε/2 that differs from the one over ε (a jump, which one-sided slopes of a step
    /// symmetric about the point would not show), S not finite within ε (the edge of a domain),
    /// ε lost in the rounding of x (|x| beyond about 1e7) or S's own rounding, |S|·2⁻⁵²/ε,
    /// above half the tolerance (a case whose S is dominated by a huge term).
    fn difference(&self, at: Element, s0: f64) -> Result<f64, LeftOut> {
        let x = self.value(at);
        let [plus, minus, half_plus, half_minus] = [x + EPS, x - EPS, x + EPS / 2.0, x - EPS / 2.0];
        if [(plus, EPS), (x, EPS), (half_plus, EPS / 2.0), (x, EPS / 2.0)]
            .iter()
            .any(|&(a, step)| ((a - (a - step)) - step).abs() > 1e-3 * step)
        {
            return Err(LeftOut::Rounding);
        }
        let values: Vec<Result<f64, String>> = [plus, minus, half_plus, half_minus]
            .into_iter()
            .map(|to| {
                self.set(at, to);
                self.s()
            })
            .collect();
        self.set(at, x);
        let values = values.into_iter().collect::<Result<Vec<f64>, String>>().map_err(|_| LeftOut::Domain)?;
        let [plus, minus, half_plus, half_minus] = values[..] else { unreachable!("four values") };
        let central = (plus - minus) / (2.0 * EPS);
        let half = (half_plus - half_minus) / EPS;
        let allowed = TOLERANCE.atol + TOLERANCE.rtol * central.abs();
        let noise = (s0.abs() + plus.abs() + minus.abs()) * f64::EPSILON / EPS;
        if noise > allowed / 2.0 {
            return Err(LeftOut::Rounding);
        }
        let kink = ((plus - s0) - (s0 - minus)).abs() / EPS;
        if kink <= allowed && (central - half).abs() <= allowed {
            Ok(central)
        } else {
            Err(LeftOut::NotSmooth)
        }
    }

    fn elements(&self) -> Vec<Element> {
        self.leaves.iter().enumerate().flat_map(|(i, (_, t))| (0..t.numel() as i64).map(move |k| (i, k))).collect()
    }

    /// Each element's central difference, or why it has none.
    fn differences(&self) -> Result<Vec<Result<f64, LeftOut>>, String> {
        let s0 = self.s()?;
        Ok(self.elements().into_iter().map(|at| self.difference(at, s0)).collect())
    }
}

/// Why an element's central difference is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LeftOut {
    /// A kink or a jump within ε, at every move tried.
    NotSmooth,
    /// S is not finite, or refused, within ε, at every move tried.
    Domain,
    /// ε is lost in the rounding of x or of S.
    Rounding,
}

impl LeftOut {
    fn describe(self) -> &'static str {
        match self {
            LeftOut::NotSmooth => "not smooth within ε at any move",
            LeftOut::Domain => "S not finite within ε at any move",
            LeftOut::Rounding => "ε lost in the rounding of x or of S",
        }
    }
}

/// libtorch's CTC gradient is the one with respect to the logits whose log_softmax the
/// log-probabilities are (`exp(lp) − …`): it assumes them normalized, and differs from ∂L/∂lp on
/// every class outside the alignment, where ∂L/∂lp = 0. Calculus of that convention is ∂L/∂lp
/// taken through log_softmax over the classes (the last dimension): d − exp(lp)·Σ_c d. A row of
/// classes with an element left out is left out whole.
fn through_log_softmax(numerical: &mut [Result<f64, LeftOut>], log_probs: &Tensor, classes: usize) {
    let lp = Vec::<f64>::try_from(log_probs.reshape([-1])).unwrap_or_default();
    for (row, lp) in numerical.chunks_mut(classes).zip(lp.chunks(classes)) {
        if let Some(why) = row.iter().find_map(|d| d.err()) {
            row.iter_mut().for_each(|d| *d = Err(why));
            continue;
        }
        let total: f64 = row.iter().map(|d| d.unwrap_or(0.0)).sum();
        for (d, lp) in row.iter_mut().zip(lp) {
            *d = d.map(|d| d - lp.exp() * total);
        }
    }
}

/// Σₖ vₖ·qₖ·scale, with qₖ the upstream weights ([`upstream_weight`]): an unreduced output's
/// part of S, or (scale i + 1) the i-th gradient's part of S of the second order, as
/// `Derivatives::Second` weighs it.
fn weighted(values: &[f64], scale: f64) -> f64 {
    values.iter().enumerate().map(|(k, v)| v * upstream_weight(k) * scale).sum()
}

/// `implementation`'s gradients of `order` (1: "grad.x", 2: "grad2.x") for the case in float64
/// against central differences of its own forward (or of its first gradient). `None`: nothing
/// to check (no input requires a gradient, or the implementation does not compute this call).
pub fn check(
    implementation: &dyn Implementation,
    case: &Case,
    spec: &'static LossSpec,
    reduction: Reduction,
    order: usize,
) -> Option<Result<Calculus, String>> {
    let args = materialize::loss_args(case, spec, DType::Float64).ok()?;
    let leaves: Vec<(String, Tensor)> =
        args.tensors.iter().filter(|(_, t)| t.requires_grad()).map(|(n, t)| (n.clone(), t.view([-1]))).collect();
    if leaves.is_empty() {
        return None;
    }
    let probe = Probe { implementation, spec, reduction, order, args, leaves };
    let analytic_of =
        |probe: &Probe| match probe.evaluate(if order == 1 { Derivatives::First } else { Derivatives::Second }) {
            Evaluation::Computed(outputs) => Ok(outputs),
            Evaluation::Unsupported => Err(None),
            other => Err(Some(other.describe())),
        };
    match analytic_of(&probe) {
        Err(None) => return None,
        Err(Some(e)) => return Some(Err(e)),
        Ok(_) => {}
    }
    let run = || -> Result<Calculus, String> {
        let mut numerical = probe.differences()?;
        let elements = probe.elements();
        // Move the elements that sit on a kink or at a domain's edge, each to the first place
        // where it is smooth.
        let mut moved = Vec::new();
        for (&at, _) in elements.iter().zip(&numerical).filter(|(_, d)| matches!(d, Err(w) if *w != LeftOut::Rounding))
        {
            let x = probe.value(at);
            for step in MOVES {
                probe.set(at, x + step * x.abs().max(1.0));
                if probe.s().is_ok_and(|s0| probe.difference(at, s0).is_ok()) {
                    moved.push((at, step));
                    break;
                }
                probe.set(at, x);
            }
        }
        if !moved.is_empty() {
            numerical = probe.differences()?;
        }
        if spec.id == "ctc_loss" {
            let classes = probe.args.tensor("log_probs").map_or(1, |t| *t.size().last().unwrap_or(&1));
            through_log_softmax(&mut numerical, &probe.leaves[0].1, classes as usize);
        }
        let analytic = analytic_of(&probe).map_err(|e| e.unwrap_or_else(|| "unsupported".into()))?;
        let prefix = if order == 1 { "grad" } else { "grad2" };
        let mut compared = Vec::new();
        let mut offset = 0;
        for (name, leaf) in &probe.leaves {
            let output = format!("{prefix}.{name}");
            let got = analytic.iter().find(|c| c.name == output).ok_or_else(|| format!("no {output}"))?;
            let numel = leaf.numel();
            let (a, n): (Vec<f64>, Vec<f64>) = numerical[offset..offset + numel]
                .iter()
                .zip(&got.values)
                .filter_map(|(d, v)| d.ok().map(|d| (*v, d)))
                .unzip();
            offset += numel;
            let shape = [a.len() as i64];
            let comparison = (!a.is_empty()).then(|| compare(&a, &shape, &n, &shape, DType::Float64, TOLERANCE));
            compared.push((output, comparison));
        }
        let mut note = Vec::new();
        if !moved.is_empty() {
            let list: Vec<String> = moved
                .iter()
                .map(|((i, k), step)| format!("{}[{k}] by {step:+e}·max(1, |x|)", probe.leaves[*i].0))
                .collect();
            note.push(format!("moved off a kink: {}", list.join(", ")));
        }
        let mut reasons: Vec<LeftOut> = numerical.iter().filter_map(|d| d.err()).collect();
        reasons.sort();
        let mut counted = std::collections::BTreeMap::new();
        for why in reasons {
            *counted.entry(why).or_insert(0) += 1;
        }
        for (why, n) in counted {
            note.push(format!("{n} element(s) left out: {}", why.describe()));
        }
        Ok(Calculus { compared, note: note.join("; ") })
    };
    Some(run())
}
