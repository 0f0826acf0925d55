//! Parameters laid out otherwise than row-major (a transposed matrix, every other element of a
//! buffer) are updated in place, as torch.optim updates them: for every optimizer of the
//! catalogue, over its defaults and sampled hyperparameters, the hand-written run over such
//! parameters equals its run over contiguous ones value for value, keeps their layout and
//! storage, and agrees with libtorch's C++ optimizer over the same parameters where it has one.

use tch::{Kind, Tensor};
use tch_parity::catalog::rng::Rng;
use tch_parity::catalog::OPTIMIZERS;
use tch_parity::check::compare::{compare, default_tolerance};
use tch_parity::fixture::DType;
use tch_parity::implementation::libtorch::CPP_OPTIMIZER;
use tch_parity::implementation::{hand_written::HandWritten, Implementation, OptimizerRun, RunGradients};
use tch_parity::optim::{OptimizerOptions, Stepper};

const STEPS: usize = 6;

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().view([-1])).unwrap()
}

/// A [3, 4] matrix stored transposed and a [2, 3] one that is every other column of a [2, 6]
/// buffer (its gaps hold NaN, so that touching one shows): leaves, as parameters are. Matrices,
/// as Muon takes only those.
fn laid_out(contiguous: &[Tensor]) -> (Vec<Tensor>, Tensor) {
    let transposed = contiguous[0].transpose(0, 1).contiguous().transpose(0, 1).detach();
    let buffer = Tensor::full([2, 6], f64::NAN, (contiguous[1].kind(), tch::Device::Cpu));
    buffer.slice(1, 0, None, 2).copy_(&contiguous[1]);
    let strided = buffer.slice(1, 0, None, 2).detach();
    (vec![transposed, strided], buffer)
}

/// A run's parameters, each parameter's state buffers, and the stepper.
type Finished = (Vec<Tensor>, Vec<Vec<(String, Tensor)>>, Box<dyn Stepper>);

fn run(
    implementation: &dyn Implementation,
    optimizer: &'static str,
    groups: &[OptimizerOptions],
    params: &[Tensor],
    grads: &[Vec<Tensor>],
) -> Option<Finished> {
    let names = ["w", "b"];
    let run = OptimizerRun::new(optimizer, groups, params, &names, &[0, 0], STEPS, RunGradients::Given(grads));
    let mut stepper = implementation.optimizer(&run)?.expect("the optimizer builds");
    for step in grads {
        stepper.step(step).expect("a step");
    }
    let buffers = (0..2).map(|i| stepper.buffers(i).unwrap()).collect();
    Some((stepper.params(), buffers, stepper))
}

#[test]
fn parameters_laid_out_otherwise_are_updated_in_place_and_agree() {
    let (mut checked, mut against_cpp) = (0, 0);
    let mut failures = Vec::new();
    for spec in OPTIMIZERS.iter().filter(|s| !s.closure && !s.sparse_gradients) {
        let mut rng = Rng::new(20261130);
        let mut configs = vec![vec![]];
        for _ in 0..3 {
            let drawn = (spec.sample)(&mut rng);
            configs.push(drawn.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect());
        }
        for given in &configs {
            let groups = vec![(spec.configure)(given).expect("sampled options are valid")];
            for dtype in [DType::Float32, DType::Float64] {
                let tensor = |n: usize, rng: &mut Rng| {
                    let v: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
                    Tensor::from_slice(&v).to_kind(dtype.kind())
                };
                let contiguous = vec![tensor(12, &mut rng).view([3, 4]), tensor(6, &mut rng).view([2, 3])];
                let grads: Vec<Vec<Tensor>> = (0..STEPS)
                    .map(|_| vec![tensor(12, &mut rng).view([3, 4]), tensor(6, &mut rng).view([2, 3])])
                    .collect();
                let (params, buffer) = laid_out(&contiguous);
                let at = format!("{} {given:?} {dtype}", spec.id);

                let (expected, expected_state, _) = run(&HandWritten, spec.id, &groups, &contiguous, &grads).unwrap();
                let (got, state, stepper) = run(&HandWritten, spec.id, &groups, &params, &grads).unwrap();
                for (i, (a, b)) in got.iter().zip(&expected).enumerate() {
                    if values(a) != values(b) {
                        failures.push(format!("{at}: parameter {i}"));
                    }
                    assert_eq!(a.stride(), params[i].stride(), "{at}: parameter {i} keeps its layout");
                }
                for (mine, theirs) in state.iter().zip(&expected_state) {
                    for ((name, a), (_, b)) in mine.iter().zip(theirs) {
                        if values(a) != values(b) {
                            failures.push(format!("{at}: {name}"));
                        }
                    }
                }
                // Updated where it lives: the stepper's copy of the strided matrix still has gaps
                // (reading one would have made a value NaN), and the caller's buffer is untouched.
                let live = stepper.params();
                assert_eq!(live[1].stride(), [6, 2]);
                assert!(got.iter().all(|p| values(p).iter().all(|v| v.is_finite())), "{at}");
                assert!(values(&buffer).iter().skip(1).step_by(2).all(|v| v.is_nan()));
                checked += 1;

                // libtorch's C++ optimizer over the same layouts, at the dtype's tolerance.
                if let Some((cpp, _, _)) = run(&CPP_OPTIMIZER, spec.id, &groups, &params, &grads) {
                    for (i, (a, b)) in cpp.iter().zip(&got).enumerate() {
                        assert_eq!(a.stride(), params[i].stride(), "{at}: C++ keeps the layout");
                        let (a, b) = (values(a), values(b));
                        let c = compare(&a, &[a.len() as i64], &b, &[b.len() as i64], dtype, default_tolerance(dtype));
                        assert!(c.passed(), "{at}: parameter {i} against C++: {c:?}");
                    }
                    against_cpp += 1;
                }
            }
        }
    }
    eprintln!("{checked} runs over laid-out parameters, {against_cpp} of them against C++");
    assert!(failures.is_empty(), "{} differ from the contiguous run:\n{}", failures.len(), failures.join("\n"));
    // 14 optimizers without a closure or sparse gradients, 4 configurations, 2 dtypes; C++ has
    // SGD, Adam, AdamW, RMSprop and Adagrad.
    assert!(checked >= 100 && against_cpp >= 30, "{checked} runs, {against_cpp} against C++");
}
