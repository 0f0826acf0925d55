//! L-BFGS (Liu & Nocedal, *On the limited memory BFGS method for large scale optimization*,
//! Math. Programming 1989), with the strong-Wolfe line search of Nocedal & Wright, *Numerical
//! Optimization*, algorithms 3.5–3.6, as libtorch's C++ `torch::optim::LBFGS` computes it (a port
//! of `torch.optim.LBFGS` that keeps its scalars in double). Stepped with a closure, as PyTorch
//! does: one step runs up to `max_iter` iterations and evaluates the objective up to `max_eval`
//! times. One parameter group; every parameter is flattened into one vector.

use super::{add_scaled_, check_non_negative, Hyperparameters};
use crate::error::{invalid, Result};
use std::collections::VecDeque;
use tch::{Kind, Tensor};

crate::options! {
    /// `torch.optim.LBFGS`'s hyperparameters, with its defaults (`line_search_fn` is
    /// `"strong_wolfe"` when `strong_wolfe`, else `None`).
    pub struct LbfgsOptions {
        /// Learning rate: the step length tried (after the first iteration's 1/‖g‖₁ guess).
        pub lr: f64 = 1.0,
        /// Iterations per step.
        pub max_iter: i64 = 20,
        /// Objective evaluations per step; None: max_iter·5/4.
        pub max_eval: Option<i64> = None,
        /// Stop when every gradient element is at most this in magnitude.
        pub tolerance_grad: f64 = 1e-7,
        /// Stop when the loss, or the step, changes less than this.
        pub tolerance_change: f64 = 1e-9,
        /// Curvature pairs kept.
        pub history_size: i64 = 100,
        /// Choose the step length by a strong-Wolfe line search instead of taking lr.
        pub strong_wolfe: bool = false,
    }
}

impl LbfgsOptions {
    /// `max_eval`, or its default `max_iter·5/4`.
    pub fn max_evaluations(&self) -> i64 {
        self.max_eval.unwrap_or(self.max_iter * 5 / 4)
    }
}

impl Hyperparameters for LbfgsOptions {
    super::lr_field!(no maximize);
    /// torch.optim.LBFGS checks the learning rate (libtorch's C++ LBFGS checks nothing).
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)
    }
}

/// What torch.optim keeps in LBFGS's state (on its first parameter): the counters, the last
/// direction and step length, the curvature pairs, the gradient and loss of the last iteration.
#[derive(Default)]
pub struct LbfgsState {
    pub func_evals: i64,
    pub n_iter: i64,
    pub t: f64,
    pub prev_loss: f64,
    pub d: Option<Tensor>,
    /// The scale of the initial inverse Hessian (an int64 1 until the first curvature pair).
    pub h_diag: Option<Tensor>,
    pub prev_flat_grad: Option<Tensor>,
    pub old_dirs: VecDeque<Tensor>,
    pub old_stps: VecDeque<Tensor>,
    pub ro: VecDeque<Tensor>,
    pub al: Vec<Option<Tensor>>,
}

/// `torch.optim.LBFGS`.
pub struct Lbfgs {
    params: Vec<Tensor>,
    options: LbfgsOptions,
    state: LbfgsState,
    /// See [`Lbfgs::initial_lr`].
    initial_lr: Option<f64>,
}

/// The objective as a step re-evaluates it: sets every parameter's gradient and returns the
/// loss, as PyTorch's closure does (`zero_grad(); loss = f(); loss.backward(); return loss`).
pub type Closure<'a> = dyn FnMut() -> Result<Tensor> + 'a;

impl Lbfgs {
    pub fn new(params: Vec<Tensor>, options: LbfgsOptions) -> Result<Self> {
        if params.is_empty() {
            return invalid!("optimizer got an empty parameter list");
        }
        options.validate()?;
        Ok(Lbfgs { params, options, state: LbfgsState::default(), initial_lr: None })
    }

    pub fn options(&self) -> &LbfgsOptions {
        &self.options
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.options.lr = lr;
    }

    /// The rate when a scheduler was first attached (torch.optim's `group["initial_lr"]`).
    pub fn initial_lr(&self) -> Option<f64> {
        self.initial_lr
    }

    pub fn set_initial_lr(&mut self, lr: f64) {
        self.initial_lr = Some(lr);
    }

    pub fn state(&self) -> &LbfgsState {
        &self.state
    }

    /// The parameters it optimizes, in order.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Options, state and `initial_lr` at once, as a checkpoint restores them.
    pub fn restore(&mut self, options: LbfgsOptions, state: LbfgsState, initial_lr: Option<f64>) -> Result<()> {
        options.validate()?;
        self.options = options;
        self.state = state;
        self.initial_lr = initial_lr;
        Ok(())
    }

    /// Every parameter's gradient, flattened into one vector (zeros for a parameter without one).
    fn flat_grad(&self) -> Result<Tensor> {
        let views = self
            .params
            .iter()
            .map(|p| {
                let g = p.grad();
                Ok(if !g.defined() {
                    p.f_new_empty([p.numel() as i64], (p.kind(), p.device()))?.f_zero_()?
                } else if g.is_sparse() {
                    g.f_to_dense(None, false)?.f_view([-1])?
                } else {
                    g.f_view([-1])?
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::f_cat(&views, 0)?)
    }

    /// θ += step·update, the flat update cut back into the parameters.
    fn add_grad(&mut self, step: f64, update: &Tensor) -> Result<()> {
        let mut offset = 0;
        for p in &mut self.params {
            let n = p.numel() as i64;
            let part = update.f_slice(0, offset, offset + n, 1)?.f_view_as(p)?;
            add_scaled_(p, &part, step)?;
            offset += n;
        }
        Ok(())
    }

    /// The loss and flat gradient at θ + t·d, leaving θ as it was (`x`).
    fn directional_evaluate(
        &mut self,
        closure: &mut Closure,
        x: &[Tensor],
        t: f64,
        d: &Tensor,
    ) -> Result<(f64, Tensor)> {
        self.add_grad(t, d)?;
        let loss = evaluate(closure)?;
        let flat_grad = self.flat_grad()?;
        for (p, saved) in self.params.iter_mut().zip(x) {
            p.f_copy_(saved)?;
        }
        Ok((loss, flat_grad))
    }

    /// One step: up to `max_iter` iterations; returns the loss the closure gave first.
    pub fn step(&mut self, closure: &mut Closure) -> Result<Tensor> {
        tch::no_grad(|| self.step_without_grad(closure))
    }

    fn step_without_grad(&mut self, closure: &mut Closure) -> Result<Tensor> {
        let o = self.options;
        let (max_eval, history_size) = (o.max_evaluations(), o.history_size.max(0) as usize);
        let orig_loss = tch::with_grad(&mut *closure)?;
        let mut loss = orig_loss.f_double_value(&[])?;
        let mut current_evals = 1;
        self.state.func_evals += 1;
        let mut flat_grad = self.flat_grad()?;
        if value(&flat_grad.f_abs()?.f_max()?)? <= o.tolerance_grad {
            return Ok(orig_loss);
        }
        let mut n_iter = 0;
        while n_iter < o.max_iter {
            n_iter += 1;
            self.state.n_iter += 1;
            let s = &mut self.state;
            if s.n_iter == 1 {
                s.d = Some(flat_grad.f_neg()?);
                s.h_diag = Some(Tensor::from(1i64));
                s.old_dirs.clear();
                s.old_stps.clear();
                s.ro.clear();
            } else {
                let d = s.d.as_ref().expect("set at the first iteration");
                let y = flat_grad.f_sub(s.prev_flat_grad.as_ref().expect("set at the first iteration"))?;
                let step = d.f_mul_scalar(s.t)?;
                let ys = y.f_dot(&step)?;
                if value(&ys)? > 1e-10 {
                    if s.old_dirs.len() == history_size {
                        s.old_dirs.pop_front();
                        s.old_stps.pop_front();
                        s.ro.pop_front();
                    }
                    // libtorch's `1. / ys` is `empty_like(ys).fill_(1).div_(ys)`.
                    s.ro.push_back(ys.f_full_like(1.0)?.f_div_(&ys)?);
                    s.h_diag = Some(ys.f_div(&y.f_dot(&y)?)?);
                    s.old_dirs.push_back(y);
                    s.old_stps.push_back(step);
                }
                let num_old = s.old_dirs.len();
                if s.al.is_empty() {
                    s.al = (0..history_size).map(|_| None).collect();
                }
                // The two-loop recursion, in one buffer.
                let mut q = flat_grad.f_neg()?;
                for i in (0..num_old).rev() {
                    let al = s.old_stps[i].f_dot(&q)?.f_mul(&s.ro[i])?;
                    add_scaled_(&mut q, &s.old_dirs[i], -value(&al)?)?;
                    s.al[i] = Some(al);
                }
                let mut r = q.f_mul(s.h_diag.as_ref().expect("set at the first iteration"))?;
                for i in 0..num_old {
                    let be_i = s.old_dirs[i].f_dot(&r)?.f_mul(&s.ro[i])?;
                    let al = s.al[i].as_ref().expect("set by the first loop");
                    add_scaled_(&mut r, &s.old_stps[i], value(&al.f_sub(&be_i)?)?)?;
                }
                s.d = Some(r);
            }
            match &mut s.prev_flat_grad {
                Some(prev) => {
                    prev.f_copy_(&flat_grad)?;
                }
                None => s.prev_flat_grad = Some(flat_grad.f_detach_copy()?),
            }
            s.prev_loss = loss;
            s.t = if s.n_iter == 1 { min(1.0, 1.0 / value(&flat_grad.f_abs()?.f_sum(None)?)?) * o.lr } else { o.lr };
            let d = s.d.as_ref().expect("set above").shallow_clone();
            let gtd = flat_grad.f_dot(&d)?;
            if value(&gtd)? > -o.tolerance_change {
                break;
            }
            let mut ls_func_evals = 0;
            let opt_cond;
            if o.strong_wolfe {
                let x_init: Vec<Tensor> =
                    self.params.iter().map(Tensor::f_detach_copy).collect::<std::result::Result<_, _>>()?;
                let t = self.state.t;
                let (new_loss, new_grad, new_t, evals) =
                    self.strong_wolfe(closure, &x_init, t, &d, loss, &flat_grad, &gtd)?;
                (loss, flat_grad, self.state.t, ls_func_evals) = (new_loss, new_grad, new_t, evals);
                self.add_grad(self.state.t, &d)?;
                opt_cond = value(&flat_grad.f_abs()?.f_max()?)? <= o.tolerance_grad;
            } else {
                self.add_grad(self.state.t, &d)?;
                if n_iter != o.max_iter {
                    loss = evaluate(closure)?;
                    flat_grad = self.flat_grad()?;
                    ls_func_evals = 1;
                    opt_cond = value(&flat_grad.f_abs()?.f_max()?)? <= o.tolerance_grad;
                } else {
                    opt_cond = false;
                }
            }
            current_evals += ls_func_evals;
            self.state.func_evals += ls_func_evals;
            let s = &self.state;
            if n_iter == o.max_iter || current_evals >= max_eval || opt_cond {
                break;
            }
            if value(&d.f_mul_scalar(s.t)?.f_abs()?.f_max()?)? <= o.tolerance_change {
                break;
            }
            if (loss - s.prev_loss).abs() < o.tolerance_change {
                break;
            }
        }
        Ok(orig_loss)
    }

    /// The strong-Wolfe line search from step length `t` along `d` (c₁ = 1e-4, c₂ = 0.9, its own
    /// tolerance 1e-9 whatever the options say, as in libtorch and torch.optim): the loss, flat
    /// gradient and step length it settles on, and how many evaluations it took (at most 25).
    #[allow(clippy::too_many_arguments)]
    fn strong_wolfe(
        &mut self,
        closure: &mut Closure,
        x: &[Tensor],
        mut t: f64,
        d: &Tensor,
        f: f64,
        g: &Tensor,
        gtd: &Tensor,
    ) -> Result<(f64, Tensor, f64, i64)> {
        let (c1, c2, max_ls, tolerance_change) = (1e-4, 0.9, 25, 1e-9);
        let d_norm = value(&d.f_abs()?.f_max()?)?;
        let g = g.f_contiguous()?.f_detach_copy()?;
        let (mut f_new, mut g_new) = self.directional_evaluate(closure, x, t, d)?;
        let mut ls_func_evals = 1;
        let mut gtd_new = g_new.f_dot(d)?;
        let (mut t_prev, mut f_prev, mut g_prev, mut gtd_prev) = (0.0, f, g.shallow_clone(), gtd.shallow_clone());
        let mut done = false;
        let mut ls_iter = 0;
        let (mut bracket, mut bracket_f): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        let (mut bracket_g, mut bracket_gtd): (Vec<Tensor>, Vec<Tensor>) = (Vec::new(), Vec::new());
        let gtd_value = value(gtd)?;
        while ls_iter < max_ls {
            if f_new > f + c1 * t * gtd_value || (ls_iter > 1 && f_new >= f_prev) {
                bracket = vec![t_prev, t];
                bracket_f = vec![f_prev, f_new];
                bracket_g = vec![g_prev, g_new.f_detach_copy()?];
                bracket_gtd = vec![gtd_prev, gtd_new];
                break;
            }
            if value(&gtd_new)?.abs() <= -c2 * gtd_value {
                bracket = vec![t, t];
                bracket_f = vec![f_new, f_new];
                bracket_g = vec![g_new.shallow_clone(), g_new.shallow_clone()];
                done = true;
                break;
            }
            if value(&gtd_new)? >= 0.0 {
                bracket = vec![t_prev, t];
                bracket_f = vec![f_prev, f_new];
                bracket_g = vec![g_prev, g_new.f_detach_copy()?];
                bracket_gtd = vec![gtd_prev, gtd_new];
                break;
            }
            let (min_step, max_step) = (t + 0.01 * (t - t_prev), t * 10.0);
            let previous = t;
            t = cubic_interpolate(
                t_prev,
                f_prev,
                value(&gtd_prev)?,
                t,
                f_new,
                value(&gtd_new)?,
                Some((min_step, max_step)),
            );
            t_prev = previous;
            f_prev = f_new;
            g_prev = g_new.f_detach_copy()?;
            gtd_prev = gtd_new;
            (f_new, g_new) = self.directional_evaluate(closure, x, t, d)?;
            ls_func_evals += 1;
            gtd_new = g_new.f_dot(d)?;
            ls_iter += 1;
        }
        if ls_iter == max_ls {
            bracket = vec![0.0, t];
            bracket_f = vec![f, f_new];
            bracket_g = vec![g, g_new];
        }
        let mut insufficient_progress = false;
        let (mut low, mut high) = if bracket_f[0] <= bracket_f[1] { (0, 1) } else { (1, 0) };
        while !done && ls_iter < max_ls {
            t = cubic_interpolate(
                bracket[0],
                bracket_f[0],
                value(&bracket_gtd[0])?,
                bracket[1],
                bracket_f[1],
                value(&bracket_gtd[1])?,
                None,
            );
            let (bracket_max, bracket_min) = (max(bracket[0], bracket[1]), min(bracket[0], bracket[1]));
            let eps = 0.1 * (bracket_max - bracket_min);
            if min(bracket_max - t, t - bracket_min) < eps {
                if insufficient_progress || t >= bracket_max || t <= bracket_min {
                    t = if (t - bracket_max).abs() < (t - bracket_min).abs() {
                        bracket_max - eps
                    } else {
                        bracket_min + eps
                    };
                    insufficient_progress = false;
                } else {
                    insufficient_progress = true;
                }
            } else {
                insufficient_progress = false;
            }
            (f_new, g_new) = self.directional_evaluate(closure, x, t, d)?;
            ls_func_evals += 1;
            gtd_new = g_new.f_dot(d)?;
            ls_iter += 1;
            if f_new > f + c1 * t * gtd_value || f_new >= bracket_f[low] {
                bracket[high] = t;
                bracket_f[high] = f_new;
                bracket_g[high] = g_new.f_detach_copy()?;
                bracket_gtd[high] = gtd_new;
                (low, high) = if bracket_f[0] <= bracket_f[1] { (0, 1) } else { (1, 0) };
            } else {
                if value(&gtd_new.f_abs()?)? <= -c2 * gtd_value {
                    done = true;
                } else if value(&gtd_new)? * (bracket[high] - bracket[low]) >= 0.0 {
                    bracket[high] = bracket[low];
                    bracket_f[high] = bracket_f[low];
                    bracket_g[high] = bracket_g[low].shallow_clone();
                    bracket_gtd[high] = bracket_gtd[low].shallow_clone();
                }
                bracket[low] = t;
                bracket_f[low] = f_new;
                bracket_g[low] = g_new.f_detach_copy()?;
                bracket_gtd[low] = gtd_new;
            }
            if (bracket[1] - bracket[0]).abs() * d_norm < tolerance_change {
                break;
            }
        }
        Ok((bracket_f[low], bracket_g[low].shallow_clone(), bracket[low], ls_func_evals))
    }
}

/// Runs the closure with autograd on and reads its loss as a double.
fn evaluate(closure: &mut Closure) -> Result<f64> {
    Ok(tch::with_grad(closure)?.f_double_value(&[])?)
}

/// `std::max` and `std::min`, whose choice on ties and NaN decides the last bits here.
fn max(a: f64, b: f64) -> f64 {
    if a < b {
        b
    } else {
        a
    }
}

fn min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

fn value(t: &Tensor) -> Result<f64> {
    Ok(t.f_double_value(&[])?)
}

/// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to
/// `bounds` (default: between x1 and x2); the midpoint when the cubic has none.
fn cubic_interpolate(x1: f64, f1: f64, g1: f64, x2: f64, f2: f64, g2: f64, bounds: Option<(f64, f64)>) -> f64 {
    let (min_bound, max_bound) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = (g1 + g2) - (3.0 * (f1 - f2) / (x1 - x2));
    let d2_square = d1.powf(2.0) - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let min_pos = if x1 <= x2 {
            x2 - ((x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2)))
        } else {
            x1 - ((x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2)))
        };
        min(max(min_pos, min_bound), max_bound)
    } else {
        (min_bound + max_bound) / 2.0
    }
}

/// The state torch.optim would show, for comparison: the counters and step length as scalars
/// and the last direction, inverse-Hessian scale and gradient.
pub fn buffers(s: &LbfgsState, kind: Kind) -> Vec<(&'static str, Tensor)> {
    let mut out = vec![
        ("func_evals", Tensor::from(s.func_evals)),
        ("n_iter", Tensor::from(s.n_iter)),
        ("t", Tensor::from(s.t)),
        ("prev_loss", Tensor::from(s.prev_loss)),
    ];
    for (name, t) in [("d", &s.d), ("H_diag", &s.h_diag), ("prev_flat_grad", &s.prev_flat_grad)] {
        if let Some(t) = t {
            out.push((name, t.to_kind(if name == "H_diag" { t.kind() } else { kind })));
        }
    }
    out
}
