//! Connectionist temporal classification, as `torch.nn.CTCLoss`.

use super::{check_floating, Reduction};
use crate::error::{invalid, Result};
use tch::{Kind, Tensor};

crate::options! {
    /// `torch.nn.CTCLoss`'s options.
    pub struct CtcOptions {
        /// The blank label.
        pub blank: i64 = 0,
        /// Impossible alignments cost 0 (and give no gradient).
        pub zero_infinity: bool = false,
    }
}

/// `log(exp(a) + exp(b) + exp(c))`, −inf when all three are −inf, with neither NaN values nor
/// NaN gradients there (a plain log-sum-exp backpropagates 0/0 through unreachable states).
fn log_sum_exp3(a: &Tensor, b: &Tensor, c: &Tensor) -> Result<Tensor> {
    let max = a.f_maximum(b)?.f_maximum(c)?.f_detach()?;
    let shift = max.f_where_self(&max.f_isfinite()?, &max.f_zeros_like()?)?;
    let sum = a.f_sub(&shift)?.f_exp()?.f_add(&b.f_sub(&shift)?.f_exp()?)?.f_add(&c.f_sub(&shift)?.f_exp()?)?;
    let empty = sum.f_eq(0.0)?;
    let safe = sum.f_where_self(&empty.f_logical_not()?, &sum.f_ones_like()?)?;
    let value = safe.f_log()?.f_add(&shift)?;
    Ok(value.f_where_self(&empty.f_logical_not()?, &value.f_full_like(f64::NEG_INFINITY)?)?)
}

/// `t` shifted right by `by` positions along dimension 1, −inf filling the start.
fn shift_right(t: &Tensor, by: i64) -> Result<Tensor> {
    let width = t.size()[1];
    if by >= width {
        return Ok(t.f_full_like(f64::NEG_INFINITY)?);
    }
    let pad = t.f_narrow(1, 0, by)?.f_full_like(f64::NEG_INFINITY)?;
    Ok(Tensor::f_cat(&[pad, t.f_narrow(1, 0, width - by)?], 1)?)
}

/// CTC loss of `log_probs` (`[T, N, C]`, or `[T, C]` for one sequence) against `targets`, either
/// padded (`[N, S]`) or concatenated (1-D, `Σ target_lengths` long).
///
/// Per sample, the negative log likelihood of all alignments (the forward recursion over the
/// target with blanks between and around its labels). `Mean` divides each sample's loss by its
/// target length (at least 1) and averages over the batch, as libtorch does; `zero_infinity`
/// turns the infinite loss of an impossible alignment, and its gradient, into 0.
///
/// The gradient follows libtorch's: it is `exp(log_probs) − γ` (γ the posterior occupancy of
/// each label), the gradient with respect to the logits of a preceding log_softmax rather than
/// the partial derivative `−γ`; through `log_softmax` both give the same logits gradient.
///
/// Graves et al., *Connectionist Temporal Classification*, ICML 2006. Defaults: `blank` 0,
/// `zero_infinity` false.
pub fn ctc_loss(
    log_probs: &Tensor,
    targets: &Tensor,
    input_lengths: &[i64],
    target_lengths: &[i64],
    options: CtcOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let log_probs = &super::row_major(log_probs)?;
    let targets = &super::row_major(targets)?;
    let CtcOptions { blank, zero_infinity } = options;
    check_floating("log_probs", log_probs)?;
    super::refuse_half("ctc_loss", "log_probs", log_probs)?;
    let unbatched = log_probs.dim() == 2;
    let lp = match log_probs.dim() {
        2 => log_probs.f_unsqueeze(1)?,
        3 => log_probs.shallow_clone(),
        d => return invalid!("log_probs must be [T, N, C] or [T, C], got {d} dimensions"),
    };
    let (time, batch, classes) = (lp.size()[0], lp.size()[1], lp.size()[2]);
    if !(0..classes).contains(&blank) {
        return invalid!("blank must be in label range [0, {classes}), got {blank}");
    }
    if input_lengths.len() as i64 != batch || target_lengths.len() as i64 != batch {
        return invalid!("input_lengths and target_lengths must have one entry per sequence ({batch})");
    }
    if let Some(&bad) = input_lengths.iter().find(|&&l| l < 0 || l > time) {
        return invalid!("Expected input_lengths to have value at most {time}, but got value {bad}");
    }
    if target_lengths.iter().any(|&l| l < 0) {
        return invalid!("target lengths must not be negative");
    }
    if targets.kind() != Kind::Int64 {
        return invalid!("targets must be int64, got {:?}", targets.kind());
    }
    let longest = target_lengths.iter().copied().max().unwrap_or(0);
    // Labels [N, longest], padded with the blank.
    // 1-D targets are concatenated (one sequence's labels, when unbatched); 2-D are padded.
    let labels = if targets.dim() == 1 {
        let total: i64 = target_lengths.iter().sum();
        if targets.size()[0] < total {
            return invalid!("concatenated targets hold {} labels, the lengths sum to {total}", targets.size()[0]);
        }
        let mut rows = Vec::new();
        let mut start = 0;
        for &l in target_lengths {
            let row = targets.f_narrow(0, start, l)?;
            let pad = Tensor::f_full([longest - l], blank, (Kind::Int64, targets.device()))?;
            rows.push(Tensor::f_cat(&[row, pad], 0)?);
            start += l;
        }
        Tensor::f_stack(&rows, 0)?
    } else {
        let padded = targets.shallow_clone();
        if padded.dim() != 2 || padded.size()[0] != batch || padded.size()[1] < longest {
            return invalid!(
                "padded targets of shape {:?} cannot hold target lengths up to {longest} for {batch} sequences",
                targets.size()
            );
        }
        padded.f_narrow(1, 0, longest)?
    };
    if labels.numel() > 0 {
        let (lo, hi) = (labels.f_min()?.f_int64_value(&[])?, labels.f_max()?.f_int64_value(&[])?);
        if lo < 0 || hi >= classes {
            return invalid!("target labels must lie in [0, {classes}), found values in [{lo}, {hi}]");
        }
    }
    let device = lp.device();
    let width = 2 * longest + 1;
    // The extended label: blank, y1, blank, y2, …, blank.
    let positions = Tensor::f_arange(width, (Kind::Int64, device))?;
    let label_index = positions.f_sub_scalar(1)?.f_div_scalar_mode(2, "floor")?.f_clamp(0, (longest - 1).max(0))?;
    let is_label = positions.f_remainder(2)?.f_eq(1)?;
    let extended = if longest > 0 {
        labels
            .f_index_select(1, &label_index)?
            .f_where_self(&is_label.f_unsqueeze(0)?, &labels.f_narrow(1, 0, 1)?.f_full_like(blank)?)?
    } else {
        Tensor::f_full([batch, width], blank, (Kind::Int64, device))?
    };
    let two_back = shift_right(&extended.f_to_kind(Kind::Double)?, 2)?;
    let may_skip =
        is_label.f_unsqueeze(0)?.f_logical_and(&extended.f_to_kind(Kind::Double)?.f_ne_tensor(&two_back)?)?;
    let lengths = Tensor::f_from_slice(target_lengths)?.f_to_device(device)?;
    let in_target =
        positions.f_unsqueeze(0)?.f_lt_tensor(&lengths.f_mul_scalar(2)?.f_add_scalar(1)?.f_unsqueeze(1)?)?;
    let running = Tensor::f_from_slice(input_lengths)?.f_to_device(device)?.f_unsqueeze(1)?;

    let neg_inf = Tensor::f_full([batch, width], f64::NEG_INFINITY, (lp.kind(), device))?;
    let start = positions.f_lt(2)?.f_unsqueeze(0)?.f_logical_and(&in_target)?;
    let mut alpha = neg_inf.shallow_clone();
    for t in 0..time {
        let emit = lp.f_select(0, t)?.f_gather(1, &extended, false)?;
        let next = if t == 0 {
            emit.f_where_self(&start, &neg_inf)?
        } else {
            let skip = shift_right(&alpha, 2)?.f_where_self(&may_skip, &neg_inf)?;
            log_sum_exp3(&alpha, &shift_right(&alpha, 1)?, &skip)?.f_add(&emit)?.f_where_self(&in_target, &neg_inf)?
        };
        alpha = next.f_where_self(&running.f_gt(t)?, &alpha)?;
    }
    let last = lengths.f_mul_scalar(2)?.f_unsqueeze(1)?;
    let end = alpha.f_gather(1, &last, false)?;
    let before_end = alpha.f_gather(1, &last.f_sub_scalar(1)?.f_clamp_min(0)?, false)?;
    let before_end = before_end.f_where_self(&last.f_gt(0)?, &end.f_full_like(f64::NEG_INFINITY)?)?;
    let log_likelihood = log_sum_exp3(&end, &before_end, &end.f_full_like(f64::NEG_INFINITY)?)?.f_squeeze_dim(1)?;
    let mut loss = log_likelihood.f_neg()?;

    // libtorch's gradient adds exp(log_probs) over each sequence's frames.
    if log_probs.requires_grad() {
        let frames = Tensor::f_arange(time, (Kind::Int64, device))?
            .f_unsqueeze(1)?
            .f_lt_tensor(&running.f_squeeze_dim(1)?.f_unsqueeze(0)?)?;
        let extra = lp.f_detach()?.f_exp()?.f_mul(&frames.f_unsqueeze(2)?.f_to_kind(lp.kind())?)?;
        let carrier = lp.f_mul(&extra)?.f_sum_dim_intlist([0i64, 2].as_slice(), false, None)?;
        loss = loss.f_add(&carrier.f_sub(&carrier.f_detach()?)?)?;
    }
    if zero_infinity {
        loss = loss.f_where_self(&loss.f_isinf()?.f_logical_not()?, &loss.f_zeros_like()?)?;
    }
    let loss = match reduction {
        Reduction::None if unbatched => loss.f_squeeze_dim(0)?,
        Reduction::None => loss,
        Reduction::Sum => loss.f_sum(None)?,
        Reduction::Mean => loss.f_div(&lengths.f_clamp_min(1)?.f_to_kind(lp.kind())?)?.f_mean(None)?,
    };
    super::first_order_only("_ctc_loss", loss)
}
