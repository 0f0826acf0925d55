//! The optimizer library as a user drives it. Expected values come from the update rules by
//! hand; each comment gives the arithmetic.

use super::*;
use approx::assert_relative_eq;
use tch::{Kind, Tensor};

fn param(values: &[f64]) -> Tensor {
    Tensor::from_slice(values).set_requires_grad(true)
}

/// Gives `p` the gradient of Σ c·p (that is, `c`) by backpropagation, as training would.
fn backward(p: &Tensor, c: &[f64]) {
    (p * Tensor::from_slice(c)).sum(Kind::Double).backward();
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach()).unwrap()
}

#[test]
fn sgd_with_momentum_two_steps() {
    // Step 1: b = g = 1, θ = 1 − 0.1·1 = 0.9. Step 2: b = 0.9·1 + 1 = 1.9, θ = 0.9 − 0.19 = 0.71.
    let p = param(&[1.0]);
    let mut opt = Sgd::new(vec![p.shallow_clone()], SgdOptions { momentum: 0.9, ..SgdOptions::new(0.1) }).unwrap();
    for _ in 0..2 {
        opt.zero_grad();
        backward(&p, &[1.0]);
        opt.step().unwrap();
    }
    assert_relative_eq!(values(&p)[0], 0.71, max_relative = 1e-15);
    assert_eq!(values(&opt.state(0, 0)[0].1), vec![1.9]);
}

#[test]
fn adam_first_step_moves_each_parameter_by_lr() {
    // Bias-corrected m̂ = g and v̂ = g² at step 1, so θ −= lr·g/(|g| + eps) ≈ lr·sign(g).
    let p = param(&[0.0, 0.0]);
    let mut opt = Adam::new(vec![p.shallow_clone()], AdamOptions { lr: 0.01, ..AdamOptions::adam() }).unwrap();
    backward(&p, &[3.0, -0.002]);
    opt.step().unwrap();
    let v = values(&p);
    assert_relative_eq!(v[0], -0.01, max_relative = 1e-8);
    assert_relative_eq!(v[1], 0.01, max_relative = 1e-5);
    let names: Vec<&str> = opt.state(0, 0).iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["step", "exp_avg", "exp_avg_sq"]);
}

#[test]
fn adamw_decays_the_parameter_not_the_gradient() {
    // Zero gradient: m = v = 0, so the only change is θ ·= 1 − lr·wd = 1 − 0.1·0.5.
    let p = param(&[2.0]);
    let mut opt =
        AdamW::new(vec![p.shallow_clone()], AdamWOptions { lr: 0.1, weight_decay: 0.5, ..Default::default() }).unwrap();
    backward(&p, &[0.0]);
    opt.step().unwrap();
    assert_eq!(values(&p), vec![2.0 * 0.95]);
}

#[test]
fn rmsprop_first_step_is_lr_over_sqrt_one_minus_alpha() {
    // v = (1 − α)·g², so g/√v = 1/√(1 − α) = 10 for α = 0.99: θ = −0.01·10 = −0.1.
    let p = param(&[0.0]);
    let mut opt = RmsProp::new(vec![p.shallow_clone()], RmsPropOptions::default()).unwrap();
    backward(&p, &[4.0]);
    opt.step().unwrap();
    assert_relative_eq!(values(&p)[0], -0.1, max_relative = 1e-7);
}

#[test]
fn adagrad_lr_decay_and_initial_accumulator() {
    // Step 1: sum = 1 + 1 = 2, θ −= 0.1·1/√2. Step 2: clr = 0.1/(1 + 0.5), sum = 3, θ −= clr/√3.
    let p = param(&[0.0]);
    let options = AdagradOptions { lr: 0.1, lr_decay: 0.5, initial_accumulator_value: 1.0, ..Default::default() };
    let mut opt = Adagrad::new(vec![p.shallow_clone()], options).unwrap();
    for _ in 0..2 {
        opt.zero_grad();
        backward(&p, &[1.0]);
        opt.step().unwrap();
    }
    let expected = -0.1 / (2.0f64.sqrt() + 1e-10) - (0.1 / 1.5) / (3.0f64.sqrt() + 1e-10);
    assert_relative_eq!(values(&p)[0], expected, max_relative = 1e-14);
}

#[test]
fn groups_have_their_own_hyperparameters_and_lr_can_change_between_steps() {
    let (w, b) = (param(&[1.0]), param(&[1.0]));
    let mut opt = Sgd::with_groups(vec![
        ParamGroup {
            params: vec![w.shallow_clone()],
            options: SgdOptions { weight_decay: 0.1, ..SgdOptions::new(0.01) },
        },
        ParamGroup { params: vec![b.shallow_clone()], options: SgdOptions::new(0.05) },
    ])
    .unwrap();
    backward(&w, &[1.0]);
    backward(&b, &[1.0]);
    opt.step().unwrap();
    // w: 1 − 0.01·(1 + 0.1); b: 1 − 0.05 (the second group has no weight decay).
    assert_relative_eq!(values(&w)[0], 0.989, max_relative = 1e-15);
    assert_relative_eq!(values(&b)[0], 0.95, max_relative = 1e-15);
    opt.set_group_lr(1, 0.5).unwrap();
    opt.zero_grad();
    backward(&b, &[1.0]);
    opt.step().unwrap();
    assert_relative_eq!(values(&b)[0], 0.45, max_relative = 1e-14);
    assert!(opt.set_group_lr(2, 0.1).is_err());
}

#[test]
fn maximize_ascends() {
    let p = param(&[0.0]);
    let mut opt = Sgd::new(vec![p.shallow_clone()], SgdOptions { maximize: true, ..SgdOptions::new(0.1) }).unwrap();
    backward(&p, &[2.0]);
    opt.step().unwrap();
    assert_eq!(values(&p), vec![0.2]);
}

#[test]
fn parameters_without_a_gradient_are_left_alone() {
    let (p, q) = (param(&[1.0]), param(&[1.0]));
    let mut opt = Adam::new(vec![p.shallow_clone(), q.shallow_clone()], AdamOptions::adam()).unwrap();
    backward(&p, &[1.0]);
    opt.step().unwrap();
    assert_eq!(values(&q), vec![1.0]);
    assert!(opt.state(0, 1).is_empty());
}

#[test]
fn invalid_hyperparameters_say_which_and_why() {
    let p = || vec![param(&[1.0])];
    let err = |r: Result<()>| r.unwrap_err().to_string();
    assert!(err(Sgd::new(p(), SgdOptions::new(-1.0)).map(|_| ())).contains("Invalid learning rate: -1"));
    assert!(err(Sgd::new(p(), SgdOptions { nesterov: true, ..SgdOptions::new(0.1) }).map(|_| ()))
        .contains("Nesterov momentum requires a momentum and zero dampening"));
    assert!(err(Adam::new(p(), AdamOptions { betas: (0.9, 1.0), ..AdamOptions::adam() }).map(|_| ()))
        .contains("Invalid beta parameter at index 1: 1"));
    assert!(err(RmsProp::new(p(), RmsPropOptions { alpha: -0.1, ..Default::default() }).map(|_| ()))
        .contains("Invalid alpha value"));
    assert!(err(Adagrad::new(p(), AdagradOptions { lr_decay: -1.0, ..Default::default() }).map(|_| ()))
        .contains("Invalid lr_decay value"));
    assert!(err(Adam::with_groups(vec![]).map(|_| ())).contains("empty parameter list"));
}

#[test]
fn asgd_keeps_eta_in_float32_even_for_float64_parameters() {
    // torch.optim stores η as a float32 scalar: the first step uses η₀ = float32(0.1), so
    // θ = 1·(1 − λη₀) − η₀·1 differs from the float64 η by about 1.5e-9, and the η after the step
    // is lr/(1 + λ·lr)^α rounded to float32.
    let p = param(&[1.0]);
    let options = AsgdOptions { lr: 0.1, ..Default::default() };
    let mut opt = Asgd::new(vec![p.shallow_clone()], options).unwrap();
    backward(&p, &[1.0]);
    opt.step().unwrap();
    let eta0 = f64::from(0.1f32);
    assert_relative_eq!(values(&p)[0], 1.0 - 1e-4 * eta0 - eta0, max_relative = 1e-15);
    assert!((values(&p)[0] - (1.0 - 1e-4 * 0.1 - 0.1)).abs() > 1e-9);
    let eta = opt.state(0, 0).into_iter().find(|(n, _)| *n == "eta").unwrap().1;
    assert_eq!(eta.kind(), Kind::Float);
    assert_eq!(eta.double_value(&[]), f64::from((0.1 / (1.0 + 1e-4 * 0.1f64).powf(0.75)) as f32));
}

#[test]
fn adafactor_refuses_a_parameter_without_elements_as_python_does() {
    // torch.optim divides the RMS's 0 by √0 and raises ZeroDivisionError.
    let p = Tensor::zeros([0], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true);
    let mut opt = Adafactor::new(vec![p.shallow_clone()], AdafactorOptions::default()).unwrap();
    p.sum(Kind::Double).backward();
    let error = opt.step().unwrap_err().to_string();
    assert!(error.contains("float division by zero"), "{error}");
}

#[test]
fn muon_refuses_a_parameter_that_is_not_a_matrix_when_it_is_added() {
    let error = Muon::new(vec![param(&[1.0, 2.0])], MuonOptions::default()).err().unwrap().to_string();
    assert!(error.contains("Muon only supports 2D parameters whereas we found a parameter with size"), "{error}");
}

#[test]
fn a_group_may_mix_dtypes_as_in_torch_optim() {
    // torch.optim accepts float32 and float64 parameters in one group (for-loop and foreach
    // alike; probed in 2.13): each parameter steps, and keeps its state, in its own dtype.
    let a = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let b = param(&[1.0]);
    let mut opt =
        Adam::new(vec![a.shallow_clone(), b.shallow_clone()], AdamOptions { lr: 0.1, ..Default::default() }).unwrap();
    (&a * 2.0).sum(Kind::Float).backward();
    backward(&b, &[2.0]);
    opt.step().unwrap();
    assert_eq!((a.kind(), b.kind()), (Kind::Float, Kind::Double));
    assert_eq!(opt.state(0, 0)[1].1.kind(), Kind::Float);
    assert_eq!(opt.state(0, 1)[1].1.kind(), Kind::Double);
    // Adam's first step is lr·g/(|g| + eps) ≈ lr against the gradient's sign.
    assert_relative_eq!(a.double_value(&[0]), 0.9, max_relative = 1e-6);
    assert_relative_eq!(b.double_value(&[0]), 0.9, max_relative = 1e-8);
}
