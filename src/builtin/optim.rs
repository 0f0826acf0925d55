//! libtorch's optimizers, three ways, behind one interface: tch's `COptimizer` (libtorch's C++
//! SGD, Adam, AdamW, RMSprop as tch users get them), the same C++ classes owned by the shim
//! (so their state can be read; Adagrad too), and the fused CPU kernels.

use super::shim::{self, CppOptimizer, Hyper};
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

/// An optimizer the harness can drive: it is handed the gradients, one per parameter in a fixed
/// order, and exposes its parameters and state buffers after each step.
pub trait Stepper {
    fn step(&mut self, grads: &[Tensor]) -> Result<()>;
    /// Sets every group's learning rate.
    fn set_lr(&mut self, lr: f64) -> Result<()>;
    fn params(&self) -> Vec<Tensor>;
    /// Parameter `index`'s state buffers by name; empty where the path exposes none.
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>>;
}

/// One group's hyperparameters, for every path.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupHyper {
    pub hyper: Hyper,
    pub maximize: bool,
}

/// The state buffers each C++ optimizer can hold.
fn state_names(kind: &str) -> &'static [&'static str] {
    match kind {
        "sgd" => &["momentum_buffer"],
        "adam" | "adamw" => &["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
        "rmsprop" => &["step", "square_avg", "momentum_buffer", "grad_avg"],
        "adagrad" => &["step", "sum"],
        _ => &[],
    }
}

/// Fresh leaf copies of the initial parameters, each with a gradient slot.
fn leaves(params: &[Tensor]) -> Result<Vec<Tensor>> {
    params.iter().map(|p| Ok(p.f_detach_copy()?.set_requires_grad(true))).collect()
}

/// libtorch's C++ optimizer, owned by the shim.
pub struct Cpp {
    optimizer: CppOptimizer,
    kind: String,
    groups: usize,
}

impl Cpp {
    pub fn new(kind: &str, groups: &[GroupHyper], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        if groups.iter().any(|g| g.maximize) {
            return Err(Error::InvalidArgument(format!("libtorch's C++ {kind} has no maximize")));
        }
        let hypers: Vec<Hyper> = groups.iter().map(|g| g.hyper).collect();
        Ok(Cpp {
            optimizer: CppOptimizer::new(kind, &hypers, &leaves(params)?, group_of)?,
            kind: kind.to_owned(),
            groups: groups.len(),
        })
    }
}

impl Stepper for Cpp {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (p, g) in self.optimizer.params().iter().zip(grads) {
            shim::set_grad(p, g)?;
        }
        self.optimizer.step()
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        (0..self.groups).try_for_each(|g| self.optimizer.set_lr(g, lr))
    }
    fn params(&self) -> Vec<Tensor> {
        self.optimizer.params().iter().map(Tensor::detach).collect()
    }
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for name in state_names(&self.kind) {
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
    pub fn new(kind: &str, groups: &[GroupHyper], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        if groups.iter().any(|g| g.maximize) {
            return Err(Error::InvalidArgument(format!("tch's {kind} has no maximize")));
        }
        let h = groups[0].hyper;
        let mut optimizer = match kind {
            "sgd" => tch::COptimizer::sgd(h.lr, h.momentum, h.dampening, h.weight_decay, h.nesterov != 0)?,
            "adam" => tch::COptimizer::adam(h.lr, h.beta1, h.beta2, h.weight_decay, h.eps, h.amsgrad != 0)?,
            "adamw" => tch::COptimizer::adamw(h.lr, h.beta1, h.beta2, h.weight_decay, h.eps, h.amsgrad != 0)?,
            "rmsprop" => tch::COptimizer::rms_prop(h.lr, h.alpha, h.eps, h.weight_decay, h.momentum, h.centered != 0)?,
            other => return Err(Error::InvalidArgument(format!("tch has no {other} optimizer"))),
        };
        let params = leaves(params)?;
        for (p, &g) in params.iter().zip(group_of) {
            optimizer.add_parameters(p, g)?;
        }
        for (g, group) in groups.iter().enumerate().skip(1) {
            optimizer.set_learning_rate_group(g, group.hyper.lr)?;
            optimizer.set_weight_decay_group(g, group.hyper.weight_decay)?;
        }
        Ok(Tch { optimizer, params })
    }
}

impl Stepper for Tch {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (p, g) in self.params.iter().zip(grads) {
            shim::set_grad(p, g)?;
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
    kind: String,
    groups: Vec<GroupHyper>,
    group_of: Vec<usize>,
    params: Vec<Tensor>,
    steps: Vec<Tensor>,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    third: Vec<Tensor>,
    stepped: bool,
}

impl Fused {
    pub fn new(kind: &str, groups: &[GroupHyper], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        if !matches!(kind, "sgd" | "adam" | "adamw" | "adagrad") {
            return Err(Error::InvalidArgument(format!("libtorch has no fused {kind}")));
        }
        let params: Vec<Tensor> = params.iter().map(|p| p.f_detach_copy()).collect::<std::result::Result<_, _>>()?;
        let zeros = |_: &Tensor| -> Vec<Tensor> { params.iter().map(Tensor::zeros_like).collect() };
        let first = if kind == "adagrad" {
            params.iter().zip(group_of).map(|(p, &g)| p.full_like(groups[g].hyper.initial_accumulator_value)).collect()
        } else {
            zeros(&params[0])
        };
        Ok(Fused {
            kind: kind.to_owned(),
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
            let members: Vec<usize> = (0..self.params.len()).filter(|&i| self.group_of[i] == g).collect();
            fn pick<'a>(list: &'a [Tensor], members: &[usize]) -> Vec<&'a Tensor> {
                members.iter().map(|&i| &list[i]).collect()
            }
            let (params, grads) = (pick(&self.params, &members), pick(grads, &members));
            let h = group.hyper;
            if self.kind != "sgd" {
                for &i in &members {
                    let _ = self.steps[i].f_add_scalar_(1.0)?;
                }
            }
            match self.kind.as_str() {
                "sgd" => shim::fused_sgd(
                    &params,
                    &grads,
                    &pick(&self.first, &members),
                    h.weight_decay,
                    h.momentum,
                    h.lr,
                    h.dampening,
                    h.nesterov != 0,
                    group.maximize,
                    !self.stepped,
                )?,
                "adam" | "adamw" => shim::fused_adam(
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
                    group.maximize,
                    self.kind == "adamw",
                )?,
                _ => shim::fused_adagrad(
                    &params,
                    &grads,
                    &pick(&self.first, &members),
                    &pick(&self.steps, &members),
                    h.lr,
                    h.lr_decay,
                    h.weight_decay,
                    h.eps,
                    group.maximize,
                )?,
            }
        }
        self.stepped = true;
        Ok(())
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        for g in &mut self.groups {
            g.hyper.lr = lr;
        }
        Ok(())
    }
    fn params(&self) -> Vec<Tensor> {
        self.params.iter().map(Tensor::shallow_clone).collect()
    }
    fn buffers(&self, i: usize) -> Result<Vec<(String, Tensor)>> {
        let h = self.groups[self.group_of[i]].hyper;
        let named = |n: &str, t: &Tensor| (n.to_owned(), t.shallow_clone());
        Ok(match self.kind.as_str() {
            "sgd" if h.momentum != 0.0 && self.stepped => vec![named("momentum_buffer", &self.first[i])],
            "sgd" => Vec::new(),
            "adagrad" => vec![named("step", &self.steps[i].to_kind(Kind::Int64)), named("sum", &self.first[i])],
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
