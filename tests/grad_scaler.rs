//! train::grad_scaler against libtorch's kernels (`_amp_foreach_non_finite_check_and_unscale_`,
//! `_amp_update_scale_`) and against `torch.amp.GradScaler` in Python, over a sequence of steps
//! with inf and NaN injected into the gradients and a growth interval short enough to grow.

use serde_json::json;
use tch::{Kind, Tensor};
use tch_parity::ffi;
use tch_parity::implementation::pytorch::{parse_series, PyTorch};
use tch_parity::optim::{Sgd, SgdOptions};
use tch_parity::train::grad_scaler::{GradScaler, GradScalerOptions};

const STEPS: usize = 24;
/// Steps whose first gradient gets an inf or a NaN written over its first element.
const INJECT: [(usize, f64); 3] = [(5, f64::INFINITY), (11, f64::NAN), (12, f64::NEG_INFINITY)];

fn options() -> GradScalerOptions {
    GradScalerOptions { init_scale: 1024.0, growth_interval: 3, ..Default::default() }
}

/// The unscaled gradient of parameter `i` at step `k`: moderate values, exact in bfloat16.
fn gradient(i: usize, k: usize) -> Vec<f64> {
    (0..4).map(|j| ((k * 7 + i * 5 + j * 3) % 11) as f64 / 8.0 - 0.625).collect()
}

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

fn injected(grad: &Tensor, k: usize) {
    if let Some(&(_, value)) = INJECT.iter().find(|(step, _)| *step == k) {
        let _ = grad.reshape([-1]).get(0).fill_(value);
    }
}

/// Each step of the hand-written scaler: (found_inf, scale after update, unscaled grads, params).
type Record = (bool, f64, Vec<Vec<f64>>, Vec<Vec<f64>>);

fn hand_written(kind: Kind) -> Vec<Record> {
    let params: Vec<Tensor> =
        (0..2).map(|_| Tensor::zeros([4], (kind, tch::Device::Cpu)).set_requires_grad(true)).collect();
    let mut opt =
        Sgd::new(params.iter().map(Tensor::shallow_clone).collect(), SgdOptions { lr: 0.1, ..Default::default() })
            .unwrap();
    let mut scaler = GradScaler::new(options()).unwrap();
    let mut out = Vec::new();
    for k in 1..=STEPS {
        for (i, p) in params.iter().enumerate() {
            let g = scaler.scale(&Tensor::from_slice(&gradient(i, k)).to_kind(kind)).unwrap();
            if i == 0 {
                injected(&g, k);
            }
            ffi::set_grad(p, &g).unwrap();
        }
        scaler.step(&params, || opt.step()).unwrap();
        let found = scaler.found_inf();
        scaler.update().unwrap();
        let grads = params.iter().map(|p| to_vec(&p.grad())).collect();
        out.push((found, f64::from(scaler.get_scale()), grads, params.iter().map(to_vec).collect()));
    }
    out
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[test]
fn hand_written_grad_scaler_matches_libtorchs_kernels_bit_for_bit() {
    for kind in [Kind::Float, Kind::Double, Kind::BFloat16] {
        let mine = hand_written(kind);
        let scale = Tensor::from_slice(&[1024.0f32]).reshape([]);
        let tracker = Tensor::from_slice(&[0i32]).reshape([]);
        let mut skipped = 0;
        for (k, (found, my_scale, my_grads, _)) in mine.iter().enumerate().map(|(k, r)| (k + 1, r)) {
            let grads: Vec<Tensor> = (0..2)
                .map(|i| {
                    let g = (Tensor::from_slice(&gradient(i, k)).to_kind(kind) * &scale).to_kind(kind);
                    if i == 0 {
                        injected(&g, k);
                    }
                    g
                })
                .collect();
            let found_inf = Tensor::zeros([], (Kind::Float, tch::Device::Cpu));
            let inv_scale = Tensor::from_slice(&[(1.0 / scale.double_value(&[])) as f32]).reshape([]);
            ffi::amp_non_finite_check_and_unscale(&grads, &found_inf, &inv_scale).unwrap();
            let _ = scale.shallow_clone().internal_amp_update_scale_(&tracker, &found_inf, 2.0, 0.5, 3);
            assert_eq!(*found, found_inf.double_value(&[]) == 1.0, "{kind:?} step {k}: found_inf");
            assert_eq!(*my_scale, scale.double_value(&[]), "{kind:?} step {k}: scale");
            for (i, g) in grads.iter().enumerate() {
                assert!(same(&my_grads[i], &to_vec(g)), "{kind:?} step {k}: gradient {i}");
            }
            skipped += usize::from(*found);
        }
        assert_eq!(skipped, 3, "{kind:?}: the three injected steps are skipped");
        // The scale grows at every third clean step in a row and backs off at each injected one.
        assert!(
            mine.iter().any(|r| r.1 > 1024.0) && mine.iter().any(|r| r.1 < 1024.0),
            "{kind:?}: grew and backed off"
        );
    }
}

#[test]
fn hand_written_grad_scaler_matches_torch_amp_grad_scaler() {
    let python = PyTorch::new();
    for (kind, dtype) in [(Kind::Float, "float32"), (Kind::Double, "float64"), (Kind::BFloat16, "bfloat16")] {
        let mine = hand_written(kind);
        let tensor = |v: Vec<f64>| json!({"name": "g", "dtype": "float", "shape": [v.len()], "values": v});
        let grads: Vec<Vec<serde_json::Value>> =
            (1..=STEPS).map(|k| (0..2).map(|i| tensor(gradient(i, k))).collect()).collect();
        let inject: Vec<serde_json::Value> = INJECT
            .iter()
            .map(|&(k, v)| {
                json!([
                    k,
                    if v.is_nan() {
                        json!("NaN")
                    } else if v > 0.0 {
                        json!("inf")
                    } else {
                        json!("-inf")
                    }
                ])
            })
            .collect();
        let request = json!({
            "kind": "grad_scaler", "dtype": dtype, "params": [tensor(vec![0.0; 4]), tensor(vec![0.0; 4])],
            "options": {"init_scale": 1024.0, "growth_interval": 3}, "grads": grads, "inject": inject,
        });
        let answer = python.answer(request).expect("Python answers");
        assert!(answer.get("error").is_none(), "{dtype}: {answer}");
        let series = parse_series(&answer).unwrap();
        let get = |label: &str| series.iter().find(|(l, _, _)| l == label).map(|(_, _, v)| v.clone()).unwrap();
        let (found, scale) = (get("found_inf"), get("scale"));
        for (k, (my_found, my_scale, my_grads, my_params)) in mine.iter().enumerate() {
            assert_eq!(*my_found, found[k] == 1.0, "{dtype} step {}: found_inf", k + 1);
            assert_eq!(*my_scale, scale[k], "{dtype} step {}: scale", k + 1);
            for i in 0..2 {
                let at = |label: &str| get(label)[k * 4..(k + 1) * 4].to_vec();
                assert!(same(&my_grads[i], &at(&format!("grad.{i}"))), "{dtype} step {}: grad {i}", k + 1);
                assert!(same(&my_params[i], &at(&format!("param.{i}"))), "{dtype} step {}: param {i}", k + 1);
            }
        }
    }
}

/// torch.amp.GradScaler refuses float16 gradients in unscale_, and a growth factor of at most 1
/// or a backoff factor of at least 1; so does the hand-written one.
#[test]
fn float16_gradients_and_bad_factors_are_refused_as_torch_does() {
    let python = PyTorch::new();
    let tensor = json!({"name": "g", "dtype": "float", "shape": [2], "values": [0.5, 1.0]});
    let request = json!({"kind": "grad_scaler", "dtype": "float16", "params": [tensor], "options": {},
                         "grads": [[tensor]], "inject": []});
    let answer = python.answer(request).expect("Python answers");
    let torch_error = answer["error"].as_str().expect("torch refuses").to_owned();
    assert!(torch_error.contains("Attempting to unscale FP16 gradients."), "{torch_error}");
    let p = Tensor::zeros([2], (Kind::Half, tch::Device::Cpu)).set_requires_grad(true);
    ffi::set_grad(&p, &Tensor::ones([2], (Kind::Half, tch::Device::Cpu))).unwrap();
    let mut scaler = GradScaler::new(GradScalerOptions::default()).unwrap();
    let error = scaler.unscale_(&[p]).expect_err("float16 is refused");
    assert!(error.to_string().contains("Attempting to unscale FP16 gradients."), "{error}");
    for (growth, backoff, message) in
        [(1.0, 0.5, "The growth factor must be > 1.0."), (2.0, 1.0, "The backoff factor must be < 1.0.")]
    {
        let options = GradScalerOptions { growth_factor: growth, backoff_factor: backoff, ..Default::default() };
        let error = GradScaler::new(options).expect_err("refused");
        assert!(error.to_string().contains(message), "{error}");
    }
}

/// Seeded random runs against libtorch's kernels: random options (growth interval 1–4, factors,
/// an initial scale up to 2¹²⁰ so that growth meets float32's limit), random gradients in every
/// dtype the unscale kernel takes, inf and NaN injected at random steps.
#[test]
fn random_runs_match_libtorchs_kernels() {
    use tch_parity::catalog::rng::Rng;
    for seed in 0..200u64 {
        let mut rng = Rng::new(seed);
        let kind = rng.pick(&[Kind::Float, Kind::Double, Kind::BFloat16]);
        let growth_interval = 1 + rng.below(4) as i64;
        let (growth_factor, backoff_factor) = (rng.pick(&[2.0, 1.5, 4.0]), rng.pick(&[0.5, 0.25, 0.9]));
        let init_scale = rng.pick(&[1.0, 1024.0, 65536.0, 2f64.powi(120)]);
        let options = GradScalerOptions { init_scale, growth_factor, backoff_factor, growth_interval, enabled: true };
        let mut scaler = GradScaler::new(options).unwrap();
        let scale = Tensor::from_slice(&[init_scale as f32]).reshape([]);
        let tracker = Tensor::from_slice(&[0i32]).reshape([]);
        for step in 1..=12 {
            let values: Vec<f64> = (0..6).map(|_| rng.uniform(-4.0, 4.0)).collect();
            let grads = Tensor::from_slice(&values).to_kind(kind);
            if rng.chance(0.2) {
                let _ = grads.get(rng.below(6) as i64).fill_(rng.pick(&[f64::INFINITY, f64::NAN, f64::NEG_INFINITY]));
            }
            let param = Tensor::zeros([6], (kind, tch::Device::Cpu)).set_requires_grad(true);
            // A copy: the kernel below unscales `grads` itself.
            ffi::set_grad(&param, &grads.copy()).unwrap();
            scaler.step(std::slice::from_ref(&param), || Ok(())).unwrap();
            let found = scaler.found_inf();
            scaler.update().unwrap();
            let found_inf = Tensor::zeros([], (Kind::Float, tch::Device::Cpu));
            let inv_scale = Tensor::from_slice(&[(1.0 / scale.double_value(&[])) as f32]).reshape([]);
            ffi::amp_non_finite_check_and_unscale(std::slice::from_ref(&grads), &found_inf, &inv_scale).unwrap();
            let _ = scale.shallow_clone().internal_amp_update_scale_(
                &tracker,
                &found_inf,
                growth_factor,
                backoff_factor,
                growth_interval,
            );
            let at = format!("seed {seed} {kind:?} step {step}");
            assert_eq!(found, found_inf.double_value(&[]) == 1.0, "{at}: found_inf");
            assert_eq!(f64::from(scaler.get_scale()), scale.double_value(&[]), "{at}: scale");
            assert_eq!(i64::from(scaler.growth_tracker()), tracker.int64_value(&[]), "{at}: growth tracker");
            assert!(same(&to_vec(&param.grad()), &to_vec(&grads)), "{at}: unscaled gradient");
        }
    }
}
