//! Your own loss and optimizer checked against every matching fixture and live libtorch, with no
//! tch in your code: an L1 loss and a plain SGD step in plain Rust.
//!
//! ```sh
//! cargo run --example conformance     # the conformance matrix, exit 1 on a disagreement
//! cargo test --example conformance    # the same as a test, as in your own crate's tests
//! ```

use tch_parity::conformance::{
    conform, fixtures, Answer, HostTensor, LossCase, LossOutput, OptimizerSetup, OptimizerUnderTest, Subject,
};
use tch_parity::optim::OptimizerOptions;
use tch_parity::Reduction;

/// The implementation under test.
struct MyCode;

impl Subject for MyCode {
    fn name(&self) -> &'static str {
        "my-code"
    }

    /// L1 loss, |x − t|, in every reduction; its gradient sign(x − t), weighted as the case
    /// says.
    fn loss(&self, case: &LossCase) -> Answer<LossOutput> {
        if case.op != "l1_loss" || case.input("input").map(|t| &t.shape) != case.input("target").map(|t| &t.shape) {
            return Answer::Unsupported; // another op, or a target to broadcast
        }
        let (x, t) = (case.floats("input"), case.floats("target"));
        let n = x.len() as f64;
        let loss: Vec<f64> = x.iter().zip(t).map(|(a, b)| (a - b).abs()).collect();
        // The weight of each element's loss in what is differentiated.
        let weight = |k: usize| match case.reduction {
            Reduction::None => LossCase::output_weight(k),
            Reduction::Mean => 1.0 / n,
            Reduction::Sum => 1.0,
        };
        // (d > 0) − (d < 0), as libtorch's L1 backward: 0 at d = 0, and at NaN (inf − inf in
        // float16), where f64::signum would give NaN. This example gave NaN there at first; the
        // `extreme` fixture caught it.
        let sign = |d: f64| f64::from(u8::from(d > 0.0)) - f64::from(u8::from(d < 0.0));
        let grad: Vec<f64> = x.iter().zip(t).enumerate().map(|(k, (a, b))| sign(a - b) * weight(k)).collect();
        let output = match case.reduction {
            Reduction::None => case.like("input", loss),
            Reduction::Mean => case.scalar(loss.iter().sum::<f64>() / n),
            Reduction::Sum => case.scalar(loss.iter().sum()),
        };
        let minus: Vec<f64> = grad.iter().map(|g| -g).collect();
        Answer::Value(
            LossOutput::new(output)
                .with_grad("input", case.like("input", grad))
                .with_grad("target", case.like("target", minus)),
        )
    }

    /// SGD without momentum, weight decay or Nesterov: p ← p − lr·g.
    fn optimizer(&self, setup: &OptimizerSetup) -> Answer<Box<dyn OptimizerUnderTest>> {
        let (Some(OptimizerOptions::Sgd(o)), "sgd") = (setup.single_group(), setup.optimizer) else {
            return Answer::Unsupported;
        };
        if o.momentum != 0.0 || o.weight_decay != 0.0 || o.nesterov || o.maximize {
            return Answer::Unsupported;
        }
        if o.lr < 0.0 {
            return Answer::Rejects(format!("Invalid learning rate: {}", o.lr));
        }
        Answer::Value(Box::new(PlainSgd { lr: o.lr, params: setup.params.clone() }))
    }
}

struct PlainSgd {
    lr: f64,
    params: Vec<HostTensor>,
}

impl OptimizerUnderTest for PlainSgd {
    fn step(&mut self, grads: &[Option<HostTensor>]) -> Result<(), String> {
        for (p, g) in self.params.iter_mut().zip(grads) {
            let (Some(g), Some(dtype)) = (g, p.dtype()) else { continue };
            let g = g.floats().ok_or("a gradient that is not float")?;
            let values = p.floats().ok_or("a parameter that is not float")?;
            // In float64, rounded once to the parameter's dtype.
            let stepped = values.iter().zip(g).map(|(x, d)| dtype.round(x - self.lr * d)).collect();
            *p = HostTensor::float(p.shape.clone(), dtype, stepped);
        }
        Ok(())
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), String> {
        self.lr = lr;
        Ok(())
    }

    fn params(&self) -> Vec<HostTensor> {
        self.params.clone()
    }
}

/// Every fixture case of the ops named, against live libtorch and the recorded values.
fn run() -> tch_parity::conformance::Outcome {
    let files = tch_parity::check::load_path(&fixtures()).expect("the fixtures load");
    conform(MyCode, &files, &["l1_loss".into(), "sgd".into()], &[])
}

fn main() -> std::process::ExitCode {
    let outcome = run();
    print!("{}", outcome.matrix.render(tch_parity::conformance::matrix::Format::Table));
    if outcome.passed() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

#[test]
fn my_code_agrees_with_pytorch() {
    let outcome = run();
    // Supported: L1 in every reduction, plain SGD; everything else is reported unsupported.
    assert!(
        outcome.matrix.agreeing() >= 20,
        "{}",
        outcome.matrix.render(tch_parity::conformance::matrix::Format::Table)
    );
    outcome.assert_conforms();
}
