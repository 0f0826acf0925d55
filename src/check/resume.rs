//! The three resume checks of an optimizer case (with its scheduler, if it has one): stopped
//! after step k, saved to a checkpoint file and loaded into a fresh optimizer,
//! - the hand-written run goes on bit for bit as the uninterrupted one;
//! - a checkpoint torch.optim wrote after its step k loads into the hand-written optimizer,
//!   which goes on as torch.optim's uninterrupted run does;
//! - the hand-written checkpoint loads into torch.optim, which goes on as the hand-written
//!   uninterrupted run does.
//!
//! PyTorch's legs compare within the dtype's default tolerance, as the checker compares the
//! hand-written optimizers with torch.optim; the Rust leg compares every bit.

use super::compare::{compare, default_tolerance};
use super::optim_run::{self, run_steps, Gradients, History, Recording, Setup, Side};
use crate::catalog::objectives;
use crate::catalog::OptimizerSpec;
use crate::fixture::{Case, DType};
use crate::implementation::hand_written::{resumable, Resumable};
use crate::implementation::pytorch::{parse_series, PyTorch};
use crate::implementation::OptimizerRun;
use crate::optim::Stepper;
use crate::train::checkpoint::Checkpoint;
use serde_json::json;
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use tch::Tensor;

/// What the three checks found: `Ok` with the largest relative difference seen, or what did
/// not match.
#[derive(Debug)]
pub struct ResumeOutcome {
    pub rust_to_rust: Result<f64, String>,
    pub pytorch_to_rust: Result<f64, String>,
    pub rust_to_pytorch: Result<f64, String>,
}

type Shared = Rc<RefCell<Box<dyn Resumable>>>;

/// A resumable stepper as the shared driving loop takes it, still reachable after the run.
struct Resuming(Shared);

impl Stepper for Resuming {
    fn step(&mut self, grads: &[Tensor]) -> crate::Result<()> {
        self.0.borrow_mut().step(grads)
    }
    fn set_lr(&mut self, lr: f64) -> crate::Result<()> {
        self.0.borrow_mut().set_lr(lr)
    }
    fn params(&self) -> Vec<Tensor> {
        self.0.borrow().params()
    }
    fn buffers(&self, index: usize) -> crate::Result<Vec<(String, Tensor)>> {
        self.0.borrow().buffers(index)
    }
    fn step_with_closure(&mut self, closure: &mut crate::optim::StepClosure) -> crate::Result<()> {
        self.0.borrow_mut().step_with_closure(closure)
    }
}

/// Steps `stepper` through `steps` steps of the case's objective (free-running, or with a
/// closure), recording every parameter and buffer after each.
fn drive(setup: &Setup, stepper: Box<dyn Resumable>, steps: usize) -> Result<(Shared, History), String> {
    let gradient = |params: &[Tensor]| objectives::gradients(setup.objective, params, &setup.data);
    let evaluate = |params: &[Tensor]| objectives::evaluate(setup.objective, params, &setup.data);
    let mut run = setup.run();
    run.steps = steps;
    let shared: Shared = Rc::new(RefCell::new(stepper));
    let mut sides: Vec<Side> = vec![("hand-written", Box::new(Resuming(shared.clone())))];
    let mut recording = Recording::default();
    let mut record = |_: usize, sides: &[Side]| recording.record(sides[0].1.as_ref(), setup.objective.params);
    run_steps(&mut sides, &run, Gradients::free(setup, &gradient, &evaluate), &mut record)?;
    Ok((shared, recording.finish()?))
}

/// Steps `from..` of a history (from 0) as one series per label.
fn tail(history: &History, from: usize) -> History {
    let mut out = History::default();
    for (label, (shape, steps)) in &history.series {
        if steps.len() > from {
            out.series.insert(label.clone(), (shape.clone(), steps[from..].to_vec()));
        }
    }
    out
}

/// Every label of `expected` against `actual`: bit for bit (`exact`), or within the dtype's
/// default tolerance where both record it (the parameters always); the largest relative
/// difference.
fn agree(actual: &History, expected: &History, dtype: DType, exact: bool) -> Result<f64, String> {
    let mut worst = 0.0f64;
    let params = expected.series.keys().filter(|l| l.starts_with("param.")).count();
    if params == 0 {
        return Err("nothing to compare".into());
    }
    for (label, _) in expected.series.iter().filter(|(l, _)| !l.starts_with("grad.")) {
        let Some(a) = actual.trajectory(label) else {
            // torch.optim records only its tensor state (SparseAdam's step is a Python int).
            if exact || label.starts_with("param.") {
                return Err(format!("no {label} after resuming"));
            }
            continue;
        };
        let b = expected.trajectory(label).expect("listed");
        if exact {
            let same = a.shape == b.shape
                && a.values
                    .iter()
                    .zip(&b.values)
                    .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
            if !same {
                let at = a.values.iter().zip(&b.values).position(|(x, y)| x.to_bits() != y.to_bits());
                return Err(format!("{label} differs after resuming (first at element {at:?})"));
            }
        } else {
            let c = compare(&a.values, &a.shape, &b.values, &b.shape, dtype, default_tolerance(dtype));
            if !c.passed() {
                return Err(format!("{label}: {} of {} mismatched, max rel {:.2e}", c.mismatched, c.numel, c.max_rel));
            }
            worst = worst.max(c.max_rel);
        }
    }
    Ok(worst)
}

/// torch.optim's answer to a run of `run` with a checkpoint to save or load: its series, each
/// step's values.
fn pytorch_run(python: &PyTorch, run: &OptimizerRun, checkpoint: serde_json::Value) -> Result<History, String> {
    let mut request = PyTorch::run_request(run, false).ok_or("a tensor Python cannot be sent")?;
    request["checkpoint"] = checkpoint;
    let answer = python.answer(request)?;
    if let Some(error) = answer.get("error").and_then(|e| e.as_str()) {
        return Err(format!("torch.optim: {error}"));
    }
    let mut history = History::default();
    for (label, shape, values) in parse_series(&answer)? {
        let steps = shape.first().copied().unwrap_or(0).max(1) as usize;
        let per = values.len() / steps;
        let chunks = values.chunks(per.max(1)).map(<[f64]>::to_vec).collect();
        history.series.insert(label, (shape[1..].to_vec(), chunks));
    }
    Ok(history)
}

/// The three checks for `case` at `dtype`, stopping after step `k`; checkpoint files go in
/// `dir`.
pub fn check(
    case: &Case,
    spec: &'static OptimizerSpec,
    dtype: DType,
    k: usize,
    dir: &Path,
    python: &PyTorch,
) -> Result<ResumeOutcome, String> {
    let setup = optim_run::setup(case, spec, dtype)?;
    let n = setup.trajectory.steps;
    if k == 0 || k >= n {
        return Err(format!("stop at a step from 1 to {}", n - 1));
    }
    let fresh = || resumable(&setup.run()).map_err(|e| e.to_string());
    let (_, uninterrupted) = drive(&setup, fresh()?, n)?;
    let (stopped, _) = drive(&setup, fresh()?, k)?;
    let rust_file = dir.join(format!("{}-{dtype}-rust.safetensors", case.name.replace('/', "-")));
    stopped.borrow().checkpoint().and_then(|c| c.save(&rust_file)).map_err(|e| format!("saving: {e}"))?;

    // Rust to Rust, through the file.
    let resume = |file: &Path| -> Result<History, String> {
        let loaded = Checkpoint::load(file).map_err(|e| format!("loading {}: {e}", file.display()))?;
        let mut resumed = fresh()?;
        resumed.restore(&loaded, k).map_err(|e| format!("restoring: {e}"))?;
        Ok(drive(&setup, resumed, n - k)?.1)
    };
    let expected_tail = tail(&uninterrupted, k);
    let rust_to_rust = resume(&rust_file).and_then(|h| agree(&h, &expected_tail, dtype, true));

    // PyTorch to Rust: torch.optim's run saves after step k.
    let torch_file = dir.join(format!("{}-{dtype}-torch.safetensors", case.name.replace('/', "-")));
    let pytorch_to_rust = pytorch_run(python, &setup.run(), json!({"save_at": k, "path": torch_file}))
        .and_then(|torch_run| agree(&resume(&torch_file)?, &tail(&torch_run, k), dtype, false));

    // Rust to PyTorch: torch.optim loads the hand-written checkpoint and goes on.
    let rust_to_pytorch = pytorch_run(python, &setup.run(), json!({"load_at": k, "path": rust_file}))
        .and_then(|torch_tail| agree(&torch_tail, &expected_tail, dtype, false));
    Ok(ResumeOutcome { rust_to_rust, pytorch_to_rust, rust_to_pytorch })
}
