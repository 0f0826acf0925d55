//! Memory layouts: every loss case run again with its inputs as views that are not contiguous,
//! the way real code passes them (logits sliced from a larger output, a target expanded from a
//! row), and compared value for value with the contiguous run.
//!
//! libtorch runs other kernels for such views (strided loops instead of vectorized ones, other
//! reduction orders), and so may a composition of tensor primitives. The hand-written side must
//! give the same values, bit for bit; libtorch's own differences are shown in the row (its
//! check uses the dtype's tolerance, its ulp figure shows any difference) and pinned in
//! `tests/libtorch_quirks.rs`.

use super::compare::{compare, default_tolerance};
use super::run::{Check, Row};
use crate::catalog::{Args, LossSpec};
use crate::fixture::{Case, DType, Tolerance};
use crate::implementation::{Computed, Derivatives, Evaluation, Implementation, LossInput};
use crate::loss::Reduction;
use tch::Tensor;

/// What a layout's run is compared against: the same call on contiguous inputs.
pub const CONTIGUOUS: &str = "contiguous";
/// The output of a layout row: every output and gradient of the call at once.
pub const EVERY_OUTPUT: &str = "every output";

/// A way of laying out the same values in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The last two dimensions stored swapped: `base.transpose(-1, -2)` (inputs of two or more
    /// dimensions).
    Transposed,
    /// Every other element of a buffer twice as long along the last dimension, the gaps holding
    /// NaN (floats) or −1 (indices), so that reading a gap shows.
    Strided,
    /// The first slice along dimension 0 expanded to the input's shape: stride 0. Its values are
    /// that slice repeated, so it is compared with a contiguous copy of them (inputs whose first
    /// dimension is longer than 1).
    Expanded,
}

impl Layout {
    pub const ALL: [Layout; 3] = [Layout::Transposed, Layout::Strided, Layout::Expanded];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Transposed => "transposed",
            Layout::Strided => "strided",
            Layout::Expanded => "expanded",
        }
    }

    /// One input in this layout: the view, and the contiguous tensor of the same values; `None`
    /// where its shape does not allow the layout. The view's base is a fresh leaf that requires
    /// a gradient when the input does; the gradient is taken with respect to the view.
    fn view(self, t: &Tensor) -> Result<Option<(Tensor, Tensor)>, tch::TchError> {
        let shape = t.size();
        let grad = t.requires_grad();
        let leaf = |base: Tensor| base.set_requires_grad(grad);
        let value = t.f_detach()?;
        Ok(match self {
            Layout::Transposed if shape.len() >= 2 => {
                let base = leaf(value.f_transpose(-1, -2)?.f_contiguous()?);
                Some((base.f_transpose(-1, -2)?, fresh(&value, grad)?))
            }
            Layout::Strided if !shape.is_empty() && value.numel() > 0 => {
                let mut wide = shape.clone();
                *wide.last_mut().expect("a dimension") *= 2;
                let gap = if value.is_floating_point() { f64::NAN } else { -1.0 };
                let base = Tensor::f_full(&wide, gap, (value.kind(), value.device()))?;
                let last = shape.len() as i64 - 1;
                base.f_slice(last, 0, None, 2)?.f_copy_(&value)?;
                let base = leaf(base);
                Some((base.f_slice(last, 0, None, 2)?, fresh(&value, grad)?))
            }
            Layout::Expanded if shape.first().is_some_and(|&n| n > 1) => {
                let base = leaf(value.f_narrow(0, 0, 1)?.f_contiguous()?);
                let same = fresh(&value.f_narrow(0, 0, 1)?.f_expand(&shape, false)?, grad)?;
                Some((base.f_expand(&shape, false)?, same))
            }
            _ => None,
        })
    }

    /// A parameter in this layout: a leaf sharing storage with a base laid out so (an optimizer
    /// updates it in place); `None` where the shape does not allow it. Expanded is never one: a
    /// tensor that overlaps itself cannot be updated in place.
    pub fn parameter(self, t: &Tensor) -> Option<Tensor> {
        if self == Layout::Expanded {
            return None;
        }
        let (view, _) = self.view(&t.detach()).ok()??;
        Some(view.detach())
    }

    /// The case's arguments in this layout and the contiguous arguments of the same values, or
    /// `None` when no input takes the layout. Options are shared.
    pub fn apply(self, args: &Args) -> Result<Option<(Args, Args)>, String> {
        let (mut viewed, mut contiguous) = (Vec::new(), Vec::new());
        let mut any = false;
        for (name, t) in &args.tensors {
            match self.view(t).map_err(|e| e.to_string())? {
                Some((view, same)) => {
                    any = true;
                    viewed.push((name.clone(), view));
                    contiguous.push((name.clone(), same));
                }
                None => {
                    let grad = t.requires_grad();
                    let value = t.f_detach().map_err(|e| e.to_string())?;
                    viewed.push((name.clone(), fresh(&value, grad).map_err(|e| e.to_string())?));
                    contiguous.push((name.clone(), fresh(&value, grad).map_err(|e| e.to_string())?));
                }
            }
        }
        let options = args.options.clone();
        Ok(any.then(|| (Args { tensors: viewed, options: options.clone() }, Args { tensors: contiguous, options })))
    }
}

/// A layout bug of libtorch's, found by `check --layouts` and reproduced in PyTorch 2.13: its
/// check passes as this known difference while it shows, and fails once it is gone.
pub struct LibtorchQuirk {
    pub op: &'static str,
    pub layout: Layout,
    /// Whether the case's arguments are of the kind it shows with.
    pub applies: fn(&Args) -> bool,
    pub reason: &'static str,
}

/// libtorch 2.13's layout bugs (pinned again, each on its own, in `tests/libtorch_quirks.rs`).
pub const LIBTORCH_QUIRKS: &[LibtorchQuirk] = &[
    LibtorchQuirk {
        op: "nll_loss",
        layout: Layout::Transposed,
        applies: |args| args.tensor("input").is_ok_and(|t| t.dim() == 4),
        reason: "libtorch's nll_loss on a 4-d input (nll_loss2d) stored with its last two dimensions transposed: \
                 the backward raises \"grad_input must be contiguous\"",
    },
    LibtorchQuirk {
        op: "ctc_loss",
        layout: Layout::Strided,
        // Concatenated: a batch (3-d log_probs) with 1-d targets; an unbatched call reads fine.
        applies: |args| {
            args.tensor("targets").is_ok_and(|t| t.dim() == 1) && args.tensor("log_probs").is_ok_and(|t| t.dim() == 3)
        },
        reason: "libtorch's ctc_loss reads concatenated (1-d) targets given as a strided view as if they were \
                 contiguous: a wrong loss and gradient, without an error",
    },
];

/// A contiguous copy that is a leaf of its own.
fn fresh(t: &Tensor, requires_grad: bool) -> Result<Tensor, tch::TchError> {
    Ok(t.f_contiguous()?.f_detach_copy()?.set_requires_grad(requires_grad))
}

/// Every output of an evaluation, in order, as one list (with where each starts), for a
/// comparison value for value.
fn concatenated(outputs: &[Computed]) -> (Vec<f64>, Vec<(usize, &str)>) {
    let mut values = Vec::new();
    let mut starts = Vec::new();
    for c in outputs {
        starts.push((values.len(), c.name.as_str()));
        values.extend_from_slice(&c.values);
    }
    (values, starts)
}

/// `implementation`'s run in `layout` against its contiguous run: equal value for value at
/// `tolerance` zero, or within `tolerance`; both rejecting agrees.
pub fn layout_check(
    implementation: &dyn Implementation,
    input: (&LossInput, &LossInput),
    tolerance: Tolerance,
    dtype: DType,
) -> Check {
    let name = implementation.name();
    let (viewed, contiguous) = (implementation.loss(input.0), implementation.loss(input.1));
    match (&viewed, &contiguous) {
        (Evaluation::Computed(a), Evaluation::Computed(b)) => {
            let names = |o: &[Computed]| o.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
            if names(a) != names(b) || a.iter().zip(b).any(|(x, y)| x.shape != y.shape) {
                return Check::failed(name, CONTIGUOUS, "other outputs or shapes than the contiguous run".into());
            }
            let ((x, starts), (y, _)) = (concatenated(a), concatenated(b));
            let comparison = compare(&x, &[x.len() as i64], &y, &[y.len() as i64], dtype, tolerance);
            let mut check = Check::compared(name, CONTIGUOUS, comparison);
            // Which output the first difference is in.
            if let Some(i) = x.iter().zip(&y).position(|(p, q)| p != q && !(p.is_nan() && q.is_nan())) {
                let (start, output) = starts.iter().rev().find(|(s, _)| *s <= i).copied().unwrap_or((0, "output"));
                check.message = Some(format!("first difference in {output}[{}]", i - start));
            }
            check
        }
        (Evaluation::Rejected(_), Evaluation::Rejected(message)) => Check {
            subject: name.into(),
            against: CONTIGUOUS.into(),
            passed: true,
            comparison: None,
            message: Some(format!("both layouts rejected: {message}")),
        },
        (a, b) => Check::failed(name, CONTIGUOUS, format!("{}; contiguous: {}", a.describe(), b.describe())),
    }
}

/// The layout rows of one case, dtype and reduction: one per layout the inputs take, with the
/// subject's check (bit for bit) and the reference's (at the dtype's tolerance, in process
/// only: PyTorch in Python receives values, not layouts).
#[allow(clippy::too_many_arguments)]
pub fn rows(
    file: &str,
    case: &Case,
    spec: &'static LossSpec,
    args: &Args,
    (dtype, reduction, derivatives): (DType, Reduction, Derivatives),
    subject: &dyn Implementation,
    reference: Option<&dyn Implementation>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for layout in Layout::ALL {
        let variant = format!("{reduction}/{}", layout.name());
        let mut row = Row::new(file, case, dtype, &variant, EVERY_OUTPUT, subject.name());
        row.reference = Some(CONTIGUOUS.to_owned());
        let (viewed, contiguous) = match layout.apply(args) {
            Ok(Some(pair)) => pair,
            Ok(None) => continue,
            Err(message) => {
                row.checks.push(Check::failed(subject.name(), CONTIGUOUS, format!("the view: {message}")));
                rows.push(row);
                continue;
            }
        };
        let input = |args| LossInput::new(spec, args, dtype, reduction).with(derivatives);
        let (viewed, contiguous) = (input(&viewed), input(&contiguous));
        let exact = Tolerance { rtol: 0.0, atol: 0.0 };
        (row.rtol, row.atol) = (0.0, 0.0);
        row.checks.push(layout_check(subject, (&viewed, &contiguous), exact, dtype));
        if let Some(reference) = reference.filter(|r| r.in_process()) {
            let mut check = layout_check(reference, (&viewed, &contiguous), default_tolerance(dtype), dtype);
            let quirk = LIBTORCH_QUIRKS.iter().find(|q| q.op == spec.id && q.layout == layout && (q.applies)(args));
            if let Some(quirk) = quirk {
                if check.passed {
                    check.passed = false;
                    check.message = Some(format!("the libtorch quirk is gone: remove it ({})", quirk.reason));
                } else {
                    check.passed = true;
                    row.known_difference = Some(quirk.reason.to_owned());
                }
            }
            row.checks.push(check);
        }
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).contiguous().view([-1])).unwrap()
    }

    #[test]
    fn each_layout_is_a_view_that_is_not_contiguous_with_the_same_values() {
        let t = Tensor::arange(6, (tch::Kind::Float, tch::Device::Cpu)).reshape([2, 3]).set_requires_grad(true);
        for layout in [Layout::Transposed, Layout::Strided] {
            let (view, same) = layout.view(&t).unwrap().unwrap();
            assert!(!view.is_contiguous() && same.is_contiguous(), "{layout:?}");
            assert_eq!(view.size(), [2, 3]);
            assert_eq!(values(&view), values(&t), "{layout:?}");
            assert!(view.requires_grad() && same.requires_grad() && same.is_leaf());
        }
        let (view, _) = Layout::Strided.view(&t).unwrap().unwrap();
        assert_eq!(view.stride(), [6, 2], "every other element of rows twice as long");
        // Expanded: the first row repeated, stride 0 along dimension 0, compared with its copy.
        let (view, same) = Layout::Expanded.view(&t).unwrap().unwrap();
        assert_eq!(view.stride(), [0, 1]);
        assert_eq!(values(&view), [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
        assert_eq!(values(&same), values(&view));
    }

    #[test]
    fn a_shape_that_does_not_allow_a_layout_is_left_as_it_is() {
        let vector = Tensor::from_slice(&[1.0f32, 2.0]);
        assert!(Layout::Transposed.view(&vector).unwrap().is_none(), "one dimension: nothing to transpose");
        let row = Tensor::from_slice(&[1.0f32, 2.0]).reshape([1, 2]);
        assert!(Layout::Expanded.view(&row).unwrap().is_none(), "a first dimension of 1: nothing to expand");
        let scalar = Tensor::from(1.0f32);
        assert!(Layout::ALL.iter().all(|l| l.view(&scalar).unwrap().is_none()));
    }

    #[test]
    fn a_gradient_flows_to_the_view() {
        let t = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).reshape([2, 2]).set_requires_grad(true);
        let (view, _) = Layout::Strided.view(&t).unwrap().unwrap();
        let loss = (&view * &view).sum(tch::Kind::Double);
        let grad = Tensor::run_backward(&[loss], &[&view], false, false).remove(0);
        assert_eq!(values(&grad), [2.0, 4.0, 6.0, 8.0]);
    }
}
