//! libtorch's optimizers, three ways, each a [`Stepper`]: tch's `COptimizer` (libtorch's C++
//! SGD, Adam, AdamW, RMSprop as tch users get them), the same C++ classes owned by the shim
//! (so their state can be read; Adagrad too), and the fused CPU kernels. Each takes the typed
//! [`OptimizerOptions`] of every parameter group; [`hyper`] marshals them for the shim, once.

use crate::error::{Error, Result};
use crate::ffi::{self, CppOptimizer, Hyper, OptimizerKind};
use crate::optim::{leaves, OptimizerOptions, StepClosure, Stepper};
use tch::{Kind, Tensor};

/// A group's options as the C++ shim takes them; `None` for an optimizer libtorch's C++ API
/// does not have.
pub fn hyper(options: &OptimizerOptions) -> Option<Hyper> {
    let flag = |b: bool| i32::from(b);
    Some(match *options {
        OptimizerOptions::Sgd(o) => Hyper {
            kind: OptimizerKind::Sgd,
            lr: o.lr,
            momentum: o.momentum,
            dampening: o.dampening,
            weight_decay: o.weight_decay,
            nesterov: flag(o.nesterov),
            ..Hyper::default()
        },
        OptimizerOptions::Adam(o) => Hyper {
            kind: if o.decoupled_weight_decay { OptimizerKind::AdamW } else { OptimizerKind::Adam },
            lr: o.lr,
            beta1: o.betas.0,
            beta2: o.betas.1,
            eps: o.eps,
            weight_decay: o.weight_decay,
            amsgrad: flag(o.amsgrad),
            ..Hyper::default()
        },
        OptimizerOptions::AdamW(o) => Hyper { kind: OptimizerKind::AdamW, ..hyper(&OptimizerOptions::Adam(o.into()))? },
        OptimizerOptions::RmsProp(o) => Hyper {
            kind: OptimizerKind::RmsProp,
            lr: o.lr,
            alpha: o.alpha,
            eps: o.eps,
            weight_decay: o.weight_decay,
            momentum: o.momentum,
            centered: flag(o.centered),
            ..Hyper::default()
        },
        OptimizerOptions::Adagrad(o) => Hyper {
            kind: OptimizerKind::Adagrad,
            lr: o.lr,
            lr_decay: o.lr_decay,
            weight_decay: o.weight_decay,
            initial_accumulator_value: o.initial_accumulator_value,
            eps: o.eps,
            ..Hyper::default()
        },
        OptimizerOptions::Lbfgs(o) => Hyper {
            kind: OptimizerKind::Lbfgs,
            lr: o.lr,
            max_iter: o.max_iter,
            max_eval: o.max_eval.unwrap_or(-1),
            history_size: o.history_size,
            tolerance_grad: o.tolerance_grad,
            tolerance_change: o.tolerance_change,
            strong_wolfe: flag(o.strong_wolfe),
            ..Hyper::default()
        },
        _ => return None,
    })
}

/// The options of a group whose optimizer `supports` has accepted.
fn known(options: &OptimizerOptions) -> Hyper {
    hyper(options).expect("an optimizer libtorch's C++ API has")
}

/// The state buffers each C++ optimizer can hold.
fn state_names(kind: OptimizerKind) -> &'static [&'static str] {
    match kind {
        OptimizerKind::Sgd => &["momentum_buffer"],
        OptimizerKind::Adam | OptimizerKind::AdamW => &["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
        OptimizerKind::RmsProp => &["step", "square_avg", "momentum_buffer", "grad_avg"],
        OptimizerKind::Adagrad => &["step", "sum"],
        OptimizerKind::Lbfgs => &["func_evals", "n_iter", "t", "prev_loss", "d", "H_diag", "prev_flat_grad"],
    }
}

fn unsupported(path: &str) -> Error {
    Error::InvalidArgument(format!("{path} has no such optimizer"))
}

fn reject_maximize(groups: &[OptimizerOptions], path: &str) -> Result<()> {
    if groups.iter().any(OptimizerOptions::maximize) {
        return Err(Error::InvalidArgument(format!("{path} has no maximize")));
    }
    Ok(())
}

/// libtorch's C++ optimizer (`torch::optim::…`), owned by the shim, with its state readable.
pub struct Cpp {
    optimizer: CppOptimizer,
    kind: OptimizerKind,
    groups: usize,
}

impl Cpp {
    /// Whether libtorch's C++ optimizers implement these options (none has `maximize`).
    pub fn supports(groups: &[OptimizerOptions]) -> bool {
        !groups.is_empty() && groups.iter().all(|g| hyper(g).is_some() && !g.maximize())
    }

    pub fn new(groups: &[OptimizerOptions], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        reject_maximize(groups, "libtorch's C++ optimizer")?;
        let hypers: Vec<Hyper> =
            groups.iter().map(hyper).collect::<Option<_>>().ok_or_else(|| unsupported("libtorch's C++ API"))?;
        Ok(Cpp {
            optimizer: CppOptimizer::new(&hypers, &leaves(params)?, group_of)?,
            kind: hypers[0].kind,
            groups: groups.len(),
        })
    }
}

impl Stepper for Cpp {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (p, g) in self.optimizer.params().iter().zip(grads) {
            ffi::set_grad(p, g)?;
        }
        self.optimizer.step()
    }
    fn step_with_closure(&mut self, objective: &mut StepClosure) -> Result<()> {
        let params: Vec<Tensor> = self.optimizer.params().iter().map(Tensor::shallow_clone).collect();
        let mut closure = || -> Result<f64> {
            let (loss, grads) = objective(&params)?;
            for (p, g) in params.iter().zip(&grads) {
                ffi::set_grad(p, g)?;
            }
            Ok(loss)
        };
        self.optimizer.step_with_closure(&mut closure)
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        (0..self.groups).try_for_each(|g| self.optimizer.set_lr(g, lr))
    }
    fn params(&self) -> Vec<Tensor> {
        self.optimizer.params().iter().map(Tensor::detach).collect()
    }
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for name in state_names(self.kind) {
            if let Some(t) = self.optimizer.state(index, name)? {
                out.push((name.to_string(), t));
            }
        }
        Ok(out)
    }
}

/// tch's own `COptimizer`: the same C++ classes, driven the way a tch user drives them.
/// Parameters only: tch exposes no state.
pub struct Tch {
    optimizer: tch::COptimizer,
    params: Vec<Tensor>,
}

impl Tch {
    /// tch has SGD, Adam, AdamW and RMSprop, none with `maximize` (no Adagrad, no LBFGS).
    pub fn supports(groups: &[OptimizerOptions]) -> bool {
        Cpp::supports(groups)
            && !matches!(groups.first(), Some(OptimizerOptions::Adagrad(_) | OptimizerOptions::Lbfgs(_)) | None)
    }

    pub fn new(groups: &[OptimizerOptions], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        reject_maximize(groups, "tch's COptimizer")?;
        let h = known(&groups[0]);
        let mut optimizer = match h.kind {
            OptimizerKind::Sgd => tch::COptimizer::sgd(h.lr, h.momentum, h.dampening, h.weight_decay, h.nesterov != 0)?,
            OptimizerKind::Adam => {
                tch::COptimizer::adam(h.lr, h.beta1, h.beta2, h.weight_decay, h.eps, h.amsgrad != 0)?
            }
            OptimizerKind::AdamW => {
                tch::COptimizer::adamw(h.lr, h.beta1, h.beta2, h.weight_decay, h.eps, h.amsgrad != 0)?
            }
            OptimizerKind::RmsProp => {
                tch::COptimizer::rms_prop(h.lr, h.alpha, h.eps, h.weight_decay, h.momentum, h.centered != 0)?
            }
            OptimizerKind::Adagrad | OptimizerKind::Lbfgs => return Err(unsupported("tch's COptimizer")),
        };
        let params = leaves(params)?;
        for (p, &g) in params.iter().zip(group_of) {
            optimizer.add_parameters(p, g)?;
        }
        for (g, group) in groups.iter().enumerate().skip(1) {
            let h = known(group);
            optimizer.set_learning_rate_group(g, h.lr)?;
            optimizer.set_weight_decay_group(g, h.weight_decay)?;
        }
        Ok(Tch { optimizer, params })
    }
}

impl Stepper for Tch {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (p, g) in self.params.iter().zip(grads) {
            ffi::set_grad(p, g)?;
        }
        Ok(self.optimizer.step()?)
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        Ok(self.optimizer.set_learning_rate(lr)?)
    }
    fn params(&self) -> Vec<Tensor> {
        self.params.iter().map(Tensor::detach).collect()
    }
    fn buffers(&self, _: usize) -> Result<Vec<(String, Tensor)>> {
        Ok(Vec::new())
    }
}

/// The fused CPU kernels, called per parameter group the way torch.optim's `fused=True` does:
/// float32 step counters incremented before the call, SGD's momentum buffers filled on the
/// first step by the kernel itself.
pub struct Fused {
    kind: OptimizerKind,
    groups: Vec<OptimizerOptions>,
    group_of: Vec<usize>,
    params: Vec<Tensor>,
    steps: Vec<Tensor>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    third: Vec<Tensor>,
    stepped: bool,
}

impl Fused {
    /// libtorch has fused SGD, Adam, AdamW and Adagrad (no RMSprop).
    pub fn supports(groups: &[OptimizerOptions]) -> bool {
        matches!(
            groups.first(),
            Some(
                OptimizerOptions::Sgd(_)
                    | OptimizerOptions::Adam(_)
                    | OptimizerOptions::AdamW(_)
                    | OptimizerOptions::Adagrad(_)
            )
        )
    }

    pub fn new(groups: &[OptimizerOptions], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        if !Self::supports(groups) {
            return Err(Error::InvalidArgument("libtorch has no fused RMSprop".into()));
        }
        let kind = known(&groups[0]).kind;
        let params: Vec<Tensor> = params.iter().map(|p| p.f_detach_copy()).collect::<std::result::Result<_, _>>()?;
        let zeros = |_: &Tensor| -> Vec<Tensor> { params.iter().map(Tensor::zeros_like).collect() };
        let first = if kind == OptimizerKind::Adagrad {
            params
                .iter()
                .zip(group_of)
                .map(|(p, &g)| p.full_like(known(&groups[g]).initial_accumulator_value))
                .collect()
        } else {
            zeros(&params[0])
        };
        Ok(Fused {
            kind,
            groups: groups.to_vec(),
            group_of: group_of.to_vec(),
            steps: params.iter().map(|_| Tensor::from(0.0f32)).collect(),
            second: zeros(&params[0]),
            third: zeros(&params[0]),
            first,
            params,
            stepped: false,
        })
    }
}

impl Stepper for Fused {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (g, group) in self.groups.iter().enumerate() {
            // The parameters of the group that have a gradient this step (the others are skipped,
            // as torch.optim skips a `None` gradient).
            let members: Vec<usize> =
                (0..self.params.len()).filter(|&i| self.group_of[i] == g && grads[i].defined()).collect();
            if members.is_empty() {
                continue;
            }
            fn pick<'a>(list: &'a [Tensor], members: &[usize]) -> Vec<&'a Tensor> {
                members.iter().map(|&i| &list[i]).collect()
            }
            let (params, grads) = (pick(&self.params, &members), pick(grads, &members));
            let h = known(group);
            let maximize = group.maximize();
            if self.kind != OptimizerKind::Sgd {
                for &i in &members {
                    let _ = self.steps[i].f_add_scalar_(1.0)?;
                }
            }
            match self.kind {
                OptimizerKind::Sgd => ffi::fused_sgd(
                    &params,
                    &grads,
                    &pick(&self.first, &members),
                    h.weight_decay,
                    h.momentum,
                    h.lr,
                    h.dampening,
                    h.nesterov != 0,
                    maximize,
                    !self.stepped,
                )?,
                OptimizerKind::Adam | OptimizerKind::AdamW => ffi::fused_adam(
                    &params,
                    &grads,
                    &pick(&self.first, &members),
                    &pick(&self.second, &members),
                    &pick(&self.third, &members),
                    &pick(&self.steps, &members),
                    h.lr,
                    (h.beta1, h.beta2),
                    h.weight_decay,
                    h.eps,
                    h.amsgrad != 0,
                    maximize,
                    self.kind == OptimizerKind::AdamW,
                )?,
                OptimizerKind::Adagrad => ffi::fused_adagrad(
                    &params,
                    &grads,
                    &pick(&self.first, &members),
                    &pick(&self.steps, &members),
                    h.lr,
                    h.lr_decay,
                    h.weight_decay,
                    h.eps,
                    maximize,
                )?,
                OptimizerKind::RmsProp | OptimizerKind::Lbfgs => unreachable!("rejected by Fused::new"),
            }
        }
        self.stepped = true;
        Ok(())
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.groups.iter_mut().for_each(|g| g.set_lr(lr));
        Ok(())
    }
    fn params(&self) -> Vec<Tensor> {
        self.params.iter().map(Tensor::shallow_clone).collect()
    }
    fn buffers(&self, i: usize) -> Result<Vec<(String, Tensor)>> {
        let h = known(&self.groups[self.group_of[i]]);
        let named = |n: &str, t: &Tensor| (n.to_owned(), t.shallow_clone());
        Ok(match self.kind {
            OptimizerKind::Sgd if h.momentum != 0.0 && self.stepped => vec![named("momentum_buffer", &self.first[i])],
            OptimizerKind::Sgd => Vec::new(),
            OptimizerKind::Adagrad => {
                vec![named("step", &self.steps[i].to_kind(Kind::Int64)), named("sum", &self.first[i])]
            }
            _ => {
                let mut out = vec![
                    named("step", &self.steps[i].to_kind(Kind::Int64)),
                    named("exp_avg", &self.first[i]),
                    named("exp_avg_sq", &self.second[i]),
                ];
                if h.amsgrad != 0 {
                    out.push(named("max_exp_avg_sq", &self.third[i]));
                }
                out
            }
        })
    }
}
