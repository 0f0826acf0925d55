//! Gradient clipping, as `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_` compute it on
//! the CPU (their per-tensor path; torch's foreach path is for accelerators).

use crate::error::{invalid, Result};
use crate::ffi;
use tch::Tensor;

/// `torch.nn.utils.clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)`:
/// scales every gradient in place by `min(1, max_norm / (‖g‖ + 1e-6))`, where ‖g‖ is the
/// `norm_type`-norm of the per-parameter norms (`f64::INFINITY` for the max; 0 counts the
/// parameters whose gradient is not all zeros, as PyTorch's does), and returns ‖g‖ as a 0-dim
/// tensor of the gradients' dtype. Parameters without a gradient are skipped; none at all gives
/// 0. With `error_if_nonfinite`, a NaN or infinite norm is an error and nothing is scaled;
/// without it, the gradients are scaled by the non-finite norm's coefficient, as PyTorch does.
///
/// Defaults in PyTorch: `norm_type` 2, `error_if_nonfinite` false.
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f64, norm_type: f64, error_if_nonfinite: bool) -> Result<Tensor> {
    let grads: Vec<Tensor> = params.iter().map(Tensor::grad).filter(Tensor::defined).collect();
    if grads.is_empty() {
        return Ok(Tensor::from(0.0f32));
    }
    tch::no_grad(|| {
        let norms = grads.iter().map(|g| ffi::vector_norm(g, norm_type, None, false)).collect::<Result<Vec<_>>>()?;
        let total = ffi::vector_norm(&Tensor::f_stack(&norms, 0)?, norm_type, None, false)?;
        if error_if_nonfinite && !total.double_value(&[]).is_finite() {
            return invalid!(
                "The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be \
                 clipped. To disable this error and scale the gradients by the non-finite norm anyway, set \
                 `error_if_nonfinite=False`"
            );
        }
        // PyTorch's `max_norm / (total + 1e-6)` is `reciprocal(total + 1e-6) * max_norm`.
        let coefficient = total.f_add_scalar(1e-6)?.f_reciprocal()?.f_mul_scalar(max_norm)?.f_clamp_max(1.0)?;
        for mut g in grads {
            let _ = g.f_mul_(&coefficient)?;
        }
        Ok(total)
    })
}

/// `torch.nn.utils.clip_grad_value_(parameters, clip_value)`: clamps every gradient in place to
/// `[-clip_value, clip_value]`; parameters without a gradient are skipped. As PyTorch's (whose
/// foreach grouping fails on an empty list), it refuses parameters none of which has a gradient.
pub fn clip_grad_value_(params: &[Tensor], clip_value: f64) -> Result<()> {
    let grads: Vec<Tensor> = params.iter().map(Tensor::grad).filter(Tensor::defined).collect();
    if grads.is_empty() {
        return invalid!(
            "clip_grad_value_ got no gradient (torch.nn.utils.clip_grad_value_ fails with \"Expected \
             !nested_tensorlist[0].empty() to be true\")"
        );
    }
    tch::no_grad(|| {
        for mut g in grads {
            let _ = g.f_clamp_(-clip_value, clip_value)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    fn with_grad(values: &[f32]) -> Tensor {
        let p = Tensor::zeros([values.len() as i64], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        ffi::set_grad(&p, &Tensor::from_slice(values)).unwrap();
        p
    }

    #[test]
    fn l2_norm_of_all_gradients_and_the_scaled_result() {
        let (a, b) = (with_grad(&[3.0]), with_grad(&[4.0]));
        let total = clip_grad_norm_(&[a.shallow_clone(), b.shallow_clone()], 1.0, 2.0, false).unwrap();
        assert_eq!(total.double_value(&[]), 5.0);
        // Scaled by 1/(5 + 1e-6): just under 3/5 and 4/5.
        let scaled = a.grad().double_value(&[0]);
        assert!((scaled - 0.6).abs() < 1e-6 && scaled < 0.6, "{scaled}");
    }

    #[test]
    fn a_small_norm_is_left_alone_and_no_gradient_gives_zero() {
        let a = with_grad(&[0.1, -0.2]);
        let _norm = clip_grad_norm_(&[a.shallow_clone()], 10.0, f64::INFINITY, false).unwrap();
        assert_eq!(Vec::<f32>::try_from(a.grad()).unwrap(), [0.1, -0.2]);
        let none = Tensor::zeros([2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        assert_eq!(clip_grad_norm_(&[none], 1.0, 2.0, false).unwrap().double_value(&[]), 0.0);
    }

    #[test]
    fn a_non_finite_norm_is_refused_only_when_asked_and_nothing_is_scaled() {
        let a = with_grad(&[f32::INFINITY, 1.0]);
        assert!(clip_grad_norm_(&[a.shallow_clone()], 1.0, 2.0, true).is_err());
        assert_eq!(a.grad().double_value(&[1]), 1.0);
        let _norm = clip_grad_norm_(&[a.shallow_clone()], 1.0, 2.0, false).unwrap();
        assert_eq!(a.grad().double_value(&[1]), 0.0);
    }

    #[test]
    fn value_clipping_clamps_each_element() {
        let a = with_grad(&[-3.0, 0.25, 2.0]);
        clip_grad_value_(&[a.shallow_clone()], 0.5).unwrap();
        assert_eq!(Vec::<f32>::try_from(a.grad()).unwrap(), [-0.5, 0.25, 0.5]);
    }
}
