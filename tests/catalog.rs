//! Generic tests over the catalogue: every loss's error inputs are rejected by its reference
//! with the stated message and by the hand-written side with an error; every optimizer's
//! invalid configurations likewise; every typed option round-trips by name.

use tch::Tensor;
use tch_parity::catalog::samples::SampleData;
use tch_parity::catalog::{Args, LOSSES, OPTIMIZERS};
use tch_parity::dtype::DType;
use tch_parity::implementation::{Evaluation, Implementation, LossInput, OptimizerRun, Registry, RunGradients};
use tch_parity::options::OptionValue;

#[test]
fn every_error_input_is_rejected_by_the_reference_and_the_hand_written_side() {
    let registry = Registry::live();
    let mut checked = 0;
    for spec in LOSSES {
        for error in (spec.error_inputs)() {
            let args = || Args {
                tensors: error
                    .sample
                    .inputs
                    .iter()
                    .map(|(name, t)| {
                        let tensor = match &t.data {
                            SampleData::Float(v) => {
                                Tensor::from_slice(&v.iter().map(|&x| x as f32).collect::<Vec<_>>())
                            }
                            SampleData::Int(v) => Tensor::from_slice(v),
                        };
                        ((*name).to_owned(), tensor.reshape(t.shape.as_slice()))
                    })
                    .collect(),
                options: error.sample.options.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
            };
            for &reduction in spec.reductions() {
                let (args_ref, args_hand) = (args(), args());
                let input = |args| LossInput::new(spec, args, DType::Float32, reduction);
                let (reference, theirs) = registry.loss_reference(&input(&args_ref)).expect("a reference");
                let at = format!("{}/{} {reduction}", spec.id, error.name);
                match theirs {
                    Evaluation::Rejected(message) => {
                        assert!(message.contains(error.message), "{at}: {} said {message}", reference.name())
                    }
                    other => panic!("{at}: {} gave {other:?}", reference.name()),
                }
                match registry.subjects[0].loss(&input(&args_hand)) {
                    Evaluation::Rejected(message) => assert!(!message.starts_with("panicked"), "{at}: {message}"),
                    other => panic!("{at}: the hand-written side gave {other:?}"),
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn every_invalid_optimizer_configuration_is_refused_by_both_sides_with_torch_optims_message() {
    let registry = Registry::live();
    // A matrix, which every optimizer takes (Muon takes nothing else).
    let params = [Tensor::from_slice(&[1.0f64, 2.0]).reshape([1, 2])];
    let grads = [vec![Tensor::from_slice(&[0.5f64, -0.5]).reshape([1, 2])]];
    for spec in OPTIMIZERS {
        for invalid in (spec.invalid_configs)() {
            let given: Vec<(String, OptionValue)> =
                invalid.options.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect();
            let groups = [(spec.configure)(&given).unwrap()];
            let run = OptimizerRun::new(spec.id, &groups, &params, &["x"], &[0], 1, RunGradients::Given(&grads));
            let build = |i: &dyn Implementation| match i.optimizer(&run) {
                Some(Err(e)) => e.to_string(),
                Some(Ok(_)) => panic!("{}/{}: {} accepted it", spec.id, invalid.name, i.name()),
                None => panic!("{}/{}: {} has no such optimizer", spec.id, invalid.name, i.name()),
            };
            let hand = build(registry.subjects[0].as_ref());
            // libtorch's C++ optimizer where it has one, torch.optim in Python for the others.
            let reference = if spec.python_only { "pytorch" } else { "cpp" };
            let theirs = build(registry.references.iter().find(|r| r.name() == reference).unwrap().as_ref());
            assert!(hand.contains(invalid.message), "{}/{}: {hand}", spec.id, invalid.name);
            assert!(theirs.contains(invalid.message), "{}/{} ({reference}): {theirs}", spec.id, invalid.name);
        }
    }
}

#[test]
fn an_unknown_or_ill_typed_option_is_an_error_never_a_default() {
    for spec in OPTIMIZERS {
        let unknown = (spec.configure)(&[("momentun".into(), OptionValue::Float(0.9))]).unwrap_err();
        assert!(unknown.contains("no option 'momentun'"), "{}: {unknown}", spec.id);
        let ill_typed = (spec.configure)(&[("lr".into(), OptionValue::Bool(true))]).unwrap_err();
        assert!(ill_typed.contains("option 'lr' is a float"), "{}: {ill_typed}", spec.id);
    }
    for spec in LOSSES {
        for option in spec.option_specs() {
            let given = vec![(option.name.to_owned(), option.default)];
            let resolved = (spec.options.resolve)(&given).unwrap();
            assert_eq!(resolved.iter().find(|(n, _)| *n == option.name).map(|(_, v)| *v), Some(option.default));
        }
        assert!((spec.options.resolve)(&[("no_such_option".into(), OptionValue::Int(1))]).is_err(), "{}", spec.id);
    }
}

/// LBFGS steps with a closure; stepped with gradients instead, both sides refuse, with
/// libtorch's words.
#[test]
fn lbfgs_stepped_without_a_closure_is_an_error_on_both_sides() {
    let registry = Registry::standard();
    let params = [Tensor::from_slice(&[1.0f64, 2.0])];
    let groups = [tch_parity::optim::OptimizerOptions::Lbfgs(Default::default())];
    let run = OptimizerRun::new("lbfgs", &groups, &params, &["x"], &[0], 1, RunGradients::Given(&[]));
    let grads = [Tensor::from_slice(&[0.5f64, -0.5])];
    let cpp = registry.references.iter().find(|r| r.name() == "cpp").unwrap();
    for side in [registry.subjects[0].as_ref(), cpp.as_ref()] {
        let mut stepper = side.optimizer(&run).unwrap().unwrap();
        let error = stepper.step(&grads).unwrap_err().to_string();
        assert!(error.contains("LBFGS requires a closure function"), "{}: {error}", side.name());
    }
}
