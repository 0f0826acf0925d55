//! Conformance: anyone's losses and optimizers (a user's own, another framework's) checked
//! against the same fixtures and live references as the hand-written library, with the same
//! tolerances, reports and exit codes as `check`.
//!
//! An implementation under test is a [`Subject`]. It is handed framework-neutral inputs
//! ([`HostTensor`]: shape, dtype, data, whether a gradient is wanted) and returns plain data, so
//! it needs no tch: candle's and burn's adapters ([`candle`], [`burn`], behind the cargo
//! features of those names) convert to their own tensors. [`Conformance`] wraps a subject as an
//! [`Implementation`], so the checker runs it like any other; [`conform`] runs it over fixture
//! files and summarises the result as a [`matrix::Matrix`].
//!
//! What a subject does not implement it answers [`Answer::Unsupported`]: reported as
//! unsupported, never as a failure and never silently skipped. A panic, an output of the wrong
//! shape or dtype, or NaN where PyTorch has a number is a failed row of that case; every other
//! case still runs.
//!
//! A loss and an optimizer of one's own, in plain Rust, checked against every matching fixture
//! and live libtorch (`examples/conformance.rs` is the same at full length):
//!
//! ```
//! use tch_parity::conformance::matrix::{Format, Status};
//! use tch_parity::conformance::{conform, fixtures, Answer, HostTensor, LossCase, LossOutput};
//! use tch_parity::conformance::{OptimizerSetup, OptimizerUnderTest, Subject};
//! use tch_parity::optim::OptimizerOptions;
//!
//! /// MSE whose mean forgets to divide by n (the kind of bug this catches), and plain SGD.
//! struct Mine;
//!
//! impl Subject for Mine {
//!     fn name(&self) -> &'static str {
//!         "mine"
//!     }
//!
//!     fn loss(&self, case: &LossCase) -> Answer<LossOutput> {
//!         let (x, t) = (case.floats("input"), case.floats("target"));
//!         if case.op != "mse_loss" || x.len() != t.len() || case.reduction == tch_parity::Reduction::None {
//!             return Answer::Unsupported; // other ops, broadcasting, `none`: reported as unsupported
//!         }
//!         let d: Vec<f64> = x.iter().zip(t).map(|(a, b)| a - b).collect();
//!         let loss = d.iter().map(|d| d * d).sum(); // the bug: `mean` is this sum too
//!         let grad = |sign: f64| d.iter().map(|d| sign * 2.0 * d).collect();
//!         let out = LossOutput::new(case.scalar(loss)).with_grad("input", case.like("input", grad(1.0)));
//!         Answer::Value(out.with_grad("target", case.like("target", grad(-1.0))))
//!     }
//!
//!     fn optimizer(&self, setup: &OptimizerSetup) -> Answer<Box<dyn OptimizerUnderTest>> {
//!         match setup.single_group() {
//!             Some(OptimizerOptions::Sgd(o))
//!                 if o.momentum == 0.0 && o.weight_decay == 0.0 && !o.nesterov && !o.maximize && o.lr > 0.0 =>
//!             {
//!                 Answer::Value(Box::new(Sgd { lr: o.lr, params: setup.params.clone() }))
//!             }
//!             _ => Answer::Unsupported,
//!         }
//!     }
//! }
//!
//! /// p ← p − lr·g, in float64, rounded once to the parameter's dtype.
//! struct Sgd {
//!     lr: f64,
//!     params: Vec<HostTensor>,
//! }
//!
//! impl OptimizerUnderTest for Sgd {
//!     fn step(&mut self, grads: &[Option<HostTensor>]) -> Result<(), String> {
//!         for (p, g) in self.params.iter_mut().zip(grads) {
//!             let (Some(g), Some(dtype)) = (g.as_ref().and_then(HostTensor::floats), p.dtype()) else { continue };
//!             let stepped = p.floats().unwrap().iter().zip(g).map(|(x, d)| dtype.round(x - self.lr * d)).collect();
//!             *p = HostTensor::float(p.shape.clone(), dtype, stepped);
//!         }
//!         Ok(())
//!     }
//!     fn set_lr(&mut self, lr: f64) -> Result<(), String> {
//!         Ok(self.lr = lr)
//!     }
//!     fn params(&self) -> Vec<HostTensor> {
//!         self.params.clone()
//!     }
//! }
//!
//! let files = tch_parity::check::load_path(&fixtures()).unwrap();
//! let outcome = conform(Mine, &files, &["mse_loss".into(), "sgd".into()], &[]);
//! assert!(!outcome.passed()); // `outcome.assert_conforms()` would panic with the table, which says:
//! let table = outcome.matrix.render(Format::Table);
//! for line in [
//!     "  mse_loss [defaults] mean float32",
//!     "    mse_loss/seed [float32 mean output] (file ",
//!     "      mine vs libtorch: 1 of 1 elements mismatched; worst at []: mine 64.0, libtorch 16.0; ",
//! ] {
//!     assert!(table.contains(line), "{table}");
//! }
//! // The SGD agrees wherever it runs; the options it lacks (momentum, …) are unsupported.
//! let sgd = outcome.matrix.cells.iter().filter(|c| c.op == "sgd");
//! assert!(sgd.clone().any(|c| c.status == Status::Agrees) && sgd.clone().all(|c| c.status != Status::Disagrees));
//! ```

pub mod burn_findings;
pub mod host;
pub mod matrix;
pub mod worker;

#[cfg(feature = "candle")]
pub mod candle;

pub use host::{HostData, HostTensor};

use crate::catalog::LossSpec;
use crate::check::run::Row;
use crate::check::{Report, Selection};
use crate::dtype::DType;
use crate::error::catch_panic;
use crate::fixture::FixtureFile;
use crate::implementation::{upstream_weight, Computed, Derivatives, Evaluation, Implementation, LossInput};
use crate::implementation::{OptimizerCode, OptimizerRun};
use crate::loss::Reduction;
use crate::optim::{OptimizerOptions, Stepper};
use crate::options::{OptionValue, Options, Values};
use tch::Tensor;

/// What a subject made of a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    /// It computed it.
    Value(T),
    /// It refused the input, with its message (PyTorch rejects it too, or the row fails).
    Rejects(String),
    /// It has no such op, option, shape or dtype: a row reported as unsupported.
    Unsupported,
}

impl<T> Answer<T> {
    /// `Value` of `Ok`, `Rejects` of an error's message.
    pub fn from_result<E: std::fmt::Display>(result: Result<T, E>) -> Answer<T> {
        match result {
            Ok(value) => Answer::Value(value),
            Err(e) => Answer::Rejects(e.to_string()),
        }
    }
}

/// One input of a [`LossCase`].
#[derive(Debug, Clone)]
pub struct CaseInput {
    pub name: String,
    pub tensor: HostTensor,
    /// Whether its gradient is wanted ("grad.<name>" in the output).
    pub requires_grad: bool,
}

/// One loss call, framework-neutral: the catalogue's op id (`tch-parity list`), the dtype the
/// float inputs are in, the reduction, every option resolved to its value, and the inputs.
///
/// Gradients are of Σₖ wₖ·outputₖ where wₖ = [`LossCase::output_weight`]`(k)` (1 for a 0-d
/// output): a non-uniform upstream gradient, so each element's gradient is checked under its
/// own weight.
pub struct LossCase<'a> {
    pub op: &'static str,
    pub dtype: DType,
    pub reduction: Reduction,
    pub inputs: Vec<CaseInput>,
    /// Every option of the op by the catalogue's name, PyTorch's defaults filled in.
    pub options: Values,
    args: &'a crate::catalog::Args,
}

impl LossCase<'_> {
    /// The input `name`, if the case has it.
    pub fn input(&self, name: &str) -> Option<&HostTensor> {
        self.inputs.iter().find(|i| i.name == name).map(|i| &i.tensor)
    }

    /// The float values of input `name`; empty when the case has no such float input.
    pub fn floats(&self, name: &str) -> &[f64] {
        self.input(name).and_then(HostTensor::floats).unwrap_or(&[])
    }

    /// Whether the gradient of input `name` is wanted.
    pub fn wants_grad(&self, name: &str) -> bool {
        self.inputs.iter().any(|i| i.name == name && i.requires_grad)
    }

    /// The value of option `name`.
    pub fn option(&self, name: &str) -> Option<OptionValue> {
        self.options.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// A float option (an int one converted), or `None`.
    pub fn float_option(&self, name: &str) -> Option<f64> {
        match self.option(name)? {
            OptionValue::Float(x) => Some(x),
            OptionValue::Int(i) => Some(i as f64),
            _ => None,
        }
    }

    /// The options as the library's typed struct for the op (`CrossEntropyOptions`, …).
    pub fn typed_options<T: Options>(&self) -> crate::Result<T> {
        self.args.options::<T>()
    }

    /// Weight k of the upstream gradient of an unreduced output: 0.25, 0.5, 0.75, 1, 0.25, …
    pub fn output_weight(k: usize) -> f64 {
        upstream_weight(k)
    }

    /// A 0-d output of the case's dtype, `value` rounded to it.
    pub fn scalar(&self, value: f64) -> HostTensor {
        HostTensor::scalar(self.dtype, self.dtype.round(value))
    }

    /// A float tensor of input `name`'s shape and the case's dtype, `values` rounded to it.
    pub fn like(&self, name: &str, values: Vec<f64>) -> HostTensor {
        let shape = self.input(name).map_or_else(Vec::new, |t| t.shape.clone());
        HostTensor::float(shape, self.dtype, values.into_iter().map(|x| self.dtype.round(x)).collect())
    }
}

/// What a subject computed for a [`LossCase`]: the output and the gradient of each input whose
/// gradient is wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct LossOutput {
    pub output: HostTensor,
    pub grads: Vec<(String, HostTensor)>,
}

impl LossOutput {
    pub fn new(output: HostTensor) -> LossOutput {
        LossOutput { output, grads: Vec::new() }
    }

    pub fn with_grad(mut self, input: &str, grad: HostTensor) -> LossOutput {
        self.grads.push((input.to_owned(), grad));
        self
    }
}

/// An optimizer run as a subject receives it: the catalogue's optimizer id ("adamw"), each
/// parameter group's typed hyperparameters (PyTorch's defaults filled in), which group each
/// parameter is in, and the starting parameters.
pub struct OptimizerSetup<'a> {
    pub optimizer: &'static str,
    pub groups: &'a [OptimizerOptions],
    pub group_of: &'a [usize],
    pub names: &'a [&'a str],
    pub params: Vec<HostTensor>,
}

impl OptimizerSetup<'_> {
    /// The options of the single group, or `None` when the parameters are in several groups
    /// (what an optimizer without parameter groups cannot express).
    pub fn single_group(&self) -> Option<&OptimizerOptions> {
        match self.groups {
            [only] => Some(only),
            _ => None,
        }
    }
}

/// An optimizer under test, stepped with the gradients it is given: in lockstep they are
/// libtorch's gradients at the reference's parameters, so a difference shows at the step where
/// it arises rather than compounding.
pub trait OptimizerUnderTest {
    /// One step; `grads[i]` is `None` where parameter `i` has no gradient this step (PyTorch
    /// skips it: neither the parameter nor its state changes).
    fn step(&mut self, grads: &[Option<HostTensor>]) -> Result<(), String>;
    /// Sets every group's learning rate (a schedule's change between steps).
    fn set_lr(&mut self, lr: f64) -> Result<(), String>;
    /// The parameters now.
    fn params(&self) -> Vec<HostTensor>;
    /// Parameter `index`'s state by torch.optim's names ("exp_avg", "exp_avg_sq",
    /// "momentum_buffer", "square_avg", "sum", …); those it gives are compared at every step.
    /// Empty where it exposes none.
    fn state(&self, index: usize) -> Vec<(String, HostTensor)> {
        let _ = index;
        Vec::new()
    }
}

/// An implementation under test, in plain data. Every method has a default that supports
/// nothing, so a subject implements only what it has.
pub trait Subject: Send + Sync {
    /// Short name for reports: "candle", "burn", "my-losses".
    fn name(&self) -> &'static str;

    /// What it is, with its version: "candle-nn 0.11.1".
    fn title(&self) -> String {
        self.name().to_owned()
    }

    /// One loss, forward and backward.
    fn loss(&self, case: &LossCase) -> Answer<LossOutput> {
        let _ = case;
        Answer::Unsupported
    }

    /// An optimizer over `setup`'s parameters.
    fn optimizer(&self, setup: &OptimizerSetup) -> Answer<Box<dyn OptimizerUnderTest>> {
        let _ = setup;
        Answer::Unsupported
    }
}

/// A [`Subject`] as an [`Implementation`] the checker compares: converts its inputs to plain
/// data and its answers back, and turns a panic, a wrong shape, a wrong dtype or a missing
/// gradient into a failure of that call.
pub struct Conformance<S> {
    pub subject: S,
    title: &'static str,
}

impl<S: Subject> Conformance<S> {
    pub fn new(subject: S) -> Conformance<S> {
        // Reports keep implementations' titles for the whole run.
        let title = Box::leak(subject.title().into_boxed_str());
        Conformance { subject, title }
    }

    fn case<'a>(&self, input: &'a LossInput) -> Result<LossCase<'a>, String> {
        let spec: &'static LossSpec = input.spec;
        let mut inputs = Vec::new();
        for (name, t) in &input.args.tensors {
            inputs.push(CaseInput {
                name: name.clone(),
                tensor: HostTensor::from_tch(t)?,
                requires_grad: t.requires_grad(),
            });
        }
        let options = (spec.options.resolve)(&input.args.options)?;
        Ok(LossCase { op: spec.id, dtype: input.dtype, reduction: input.reduction, inputs, options, args: input.args })
    }
}

impl<S: Subject> Implementation for Conformance<S> {
    fn name(&self) -> &'static str {
        self.subject.name()
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn derivatives(&self) -> Derivatives {
        Derivatives::First
    }

    fn pinned_by_fixtures(&self) -> bool {
        false
    }

    fn refuses_where_libtorch_cannot(&self) -> bool {
        false
    }

    fn loss(&self, input: &LossInput) -> Evaluation {
        let case = match self.case(input) {
            Ok(case) => case,
            Err(e) => return Evaluation::Rejected(format!("the case's inputs: {e}")),
        };
        match catch_panic(|| self.subject.loss(&case)) {
            Err(panic) => Evaluation::Rejected(panic),
            Ok(Answer::Unsupported) => Evaluation::Unsupported,
            Ok(Answer::Rejects(message)) => Evaluation::Rejected(message),
            Ok(Answer::Value(out)) => match computed(&case, out) {
                Ok(computed) => Evaluation::Computed(computed),
                Err(problem) => Evaluation::Rejected(format!("{} returned {problem}", self.name())),
            },
        }
    }

    fn optimizer(&self, run: &OptimizerRun) -> Option<crate::Result<Box<dyn Stepper>>> {
        // The training step around an optimizer (schedulers, loss scaling) is not the
        // optimizer's: a subject is given plain steps only.
        if run.scheduler.is_some() || run.grad_scaler.is_some() || !run.inject.is_empty() {
            return None;
        }
        let params = run.params.iter().map(HostTensor::from_tch).collect::<Result<Vec<_>, _>>().ok()?;
        let setup = OptimizerSetup {
            optimizer: run.optimizer,
            groups: run.groups,
            group_of: run.group_of,
            names: run.names,
            params,
        };
        match catch_panic(|| self.subject.optimizer(&setup)) {
            Ok(Answer::Unsupported) => None,
            Ok(Answer::Rejects(message)) | Err(message) => Some(Err(crate::Error::InvalidArgument(message))),
            Ok(Answer::Value(inner)) => Some(Ok(Box::new(HostStepper { inner, dtype: run.kind() }))),
        }
    }

    fn optimizer_code(&self, _run: &OptimizerRun) -> Option<OptimizerCode> {
        // Its own code: in float16 and bfloat16 it is compared over the first steps, at
        // PyTorch's tolerance for paths that round in another order.
        None
    }
}

/// Checks a subject's answer against the case and reads it as the checker's outputs.
fn computed(case: &LossCase, out: LossOutput) -> Result<Vec<Computed>, String> {
    let as_computed = |name: &str, t: &HostTensor| -> Result<Computed, String> {
        match t.dtype() {
            Some(dtype) if dtype == case.dtype => {}
            Some(dtype) => return Err(format!("{name} in {} where {} was asked for", dtype.name(), case.dtype.name())),
            None => return Err(format!("{name} as integers")),
        }
        let values = t.floats().unwrap_or(&[]).to_vec();
        if values.len() != t.numel() {
            return Err(format!("{name} with {} values for shape {:?}", values.len(), t.shape));
        }
        Ok(Computed { name: name.to_owned(), shape: t.shape.iter().map(|&d| d as i64).collect(), values })
    };
    let mut computed = vec![as_computed("output", &out.output)?];
    for input in case.inputs.iter().filter(|i| i.requires_grad) {
        let name = format!("grad.{}", input.name);
        let grad = out.grads.iter().find(|(n, _)| *n == input.name).map(|(_, g)| g);
        let grad = grad.ok_or_else(|| format!("no {name}"))?;
        if grad.shape != input.tensor.shape {
            return Err(format!("{name} of shape {:?} for an input of shape {:?}", grad.shape, input.tensor.shape));
        }
        computed.push(as_computed(&name, grad)?);
    }
    Ok(computed)
}

/// An [`OptimizerUnderTest`] as the checker's [`Stepper`].
struct HostStepper {
    inner: Box<dyn OptimizerUnderTest>,
    dtype: tch::Kind,
}

impl HostStepper {
    fn tensors(&self, host: Vec<HostTensor>, what: &str) -> Vec<Tensor> {
        // A parameter the subject returned in another dtype is read at the run's dtype, so the
        // comparison sees its values (a wrong-dtype return still fails as a difference).
        host.iter()
            .map(|h| h.to_tch().and_then(|t| t.f_to_kind(self.dtype).map_err(|e| e.to_string())))
            .map(|t| t.unwrap_or_else(|e| panic!("{what}: {e}")))
            .collect()
    }
}

impl Stepper for HostStepper {
    fn step(&mut self, grads: &[Tensor]) -> crate::Result<()> {
        let host: Vec<Option<HostTensor>> = grads
            .iter()
            .map(|g| if g.defined() { HostTensor::from_tch(g).map(Some) } else { Ok(None) })
            .collect::<Result<_, _>>()
            .map_err(crate::Error::InvalidArgument)?;
        match catch_panic(|| self.inner.step(&host)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) | Err(message) => Err(crate::Error::InvalidArgument(message)),
        }
    }

    fn set_lr(&mut self, lr: f64) -> crate::Result<()> {
        self.inner.set_lr(lr).map_err(crate::Error::InvalidArgument)
    }

    fn params(&self) -> Vec<Tensor> {
        self.tensors(self.inner.params(), "a parameter")
    }

    fn buffers(&self, index: usize) -> crate::Result<Vec<(String, Tensor)>> {
        let state = self.inner.state(index);
        let (names, tensors): (Vec<String>, Vec<HostTensor>) = state.into_iter().unzip();
        Ok(names.into_iter().zip(self.tensors(tensors, "a state buffer")).collect())
    }
}

/// The project's fixtures folder (what `conform` reads by default).
pub fn fixtures() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A disagreement a subject is known to have with PyTorch, pinned: its rows pass as known, and
/// if it no longer shows, the run fails saying so (so an upgrade that fixes it is noticed).
#[derive(Debug, Clone, Copy)]
pub struct Finding {
    /// The op id, and the cases it covers: a case name, or "" for every case of the op.
    pub op: &'static str,
    pub cases: &'static [&'static str],
    /// Dtypes, reductions (optimizer variants: "lockstep/cpp") and outputs it covers; empty:
    /// all.
    pub dtypes: &'static [DType],
    pub variants: &'static [&'static str],
    pub outputs: &'static [&'static str],
    /// Which side differs from PyTorch and how, in a sentence.
    pub what: &'static str,
    /// The upstream issue or pull request, if any.
    pub upstream: Option<&'static str>,
}

impl Finding {
    /// A finding for the cases of `op` named (or whose names start with one of `cases` and a
    /// `/`, as optimizer cases name their objective), every dtype, variant and output.
    pub const fn new(op: &'static str, cases: &'static [&'static str], what: &'static str) -> Finding {
        Finding { op, cases, dtypes: &[], variants: &[], outputs: &[], what, upstream: None }
    }

    pub const fn dtypes(self, dtypes: &'static [DType]) -> Finding {
        Finding { dtypes, ..self }
    }

    pub const fn variants(self, variants: &'static [&'static str]) -> Finding {
        Finding { variants, ..self }
    }

    pub const fn outputs(self, outputs: &'static [&'static str]) -> Finding {
        Finding { outputs, ..self }
    }

    /// Whether the finding covers `row`. An output ending in `.` covers every output it starts
    /// (`"param."`: every parameter).
    pub fn covers(&self, row: &Row) -> bool {
        let any = |list: &[&str], x: &str| {
            list.is_empty() || list.iter().any(|l| *l == x || (l.ends_with('.') && x.starts_with(l)))
        };
        let case = |c: &&str| row.case == *c || row.case.strip_prefix(*c).is_some_and(|rest| rest.starts_with('/'));
        row.op == self.op
            && (self.cases.is_empty() || self.cases.iter().any(case))
            && (self.dtypes.is_empty() || self.dtypes.contains(&row.dtype))
            && any(self.variants, &row.variant)
            && any(self.outputs, &row.output)
    }
}

/// A conformance run: the checker's report (every row) and its matrix.
pub struct Outcome {
    pub report: Report,
    pub matrix: matrix::Matrix,
}

impl Outcome {
    /// Whether every row agreed, or disagreed as a pinned finding, and every finding showed.
    pub fn passed(&self) -> bool {
        self.report.passed()
    }

    /// Panics, listing every disagreement, unless the run passed: for a subject's own tests.
    pub fn assert_conforms(&self) {
        if !self.passed() {
            panic!("{}", self.matrix.render(matrix::Format::Table));
        }
    }
}

/// Runs `subject` over every case of `files` whose op is (or name contains) one of `filters`
/// (all when empty), against the live references and the fixtures, and applies its `findings`.
pub fn conform<S: Subject + 'static>(
    subject: S,
    files: &[FixtureFile],
    filters: &[String],
    findings: &[Finding],
) -> Outcome {
    let conformance = Conformance::new(subject);
    let title = conformance.title;
    let registry = crate::implementation::Registry {
        subjects: vec![Box::new(conformance)],
        references: crate::implementation::Registry::standard_references(),
    };
    let selection = Selection { filters: filters.to_vec(), ..Default::default() };
    let mut report = crate::check::check(&registry, files, &selection);
    let pinned = pin_findings(findings, &mut report.rows, !filters.is_empty());
    let matrix = matrix::Matrix::of(title, files, &report, findings, &pinned);
    Outcome { report, matrix }
}

/// Marks each failing row a finding covers as that known difference; a finding that covers rows
/// but no failing one fails its first, saying it is gone. One that covers no row at all fails a
/// row of its own in a whole run (its names match no case), and is left out of a filtered one.
/// Returns the pinned rows' disagreements in full, by row index (the matrix shows how far each
/// finding goes).
fn pin_findings(findings: &[Finding], rows: &mut Vec<Row>, filtered: bool) -> std::collections::HashMap<usize, String> {
    use crate::check::run::Check;
    let mut details = std::collections::HashMap::new();
    for finding in findings {
        let mut shown = false;
        for (i, row) in rows.iter_mut().enumerate().filter(|(_, r)| finding.covers(r)) {
            if !row.passed() {
                shown = true;
                details.insert(i, crate::check::report::failure_detail(row).trim_end().to_owned());
                row.known_difference = Some(finding.what.to_owned());
                for check in row.checks.iter_mut() {
                    check.passed = true;
                }
            }
        }
        if !shown {
            let message = format!("a pinned finding no longer shows ({}): remove it from the findings", finding.what);
            match rows.iter_mut().find(|r| finding.covers(r)) {
                Some(row) => row.checks.push(Check::failed(&row.subject.clone(), "finding", message)),
                None if filtered => {}
                None => {
                    let message = format!("a pinned finding covers no case of this run ({})", finding.what);
                    let mut row = rows.first().cloned().expect("a run with rows");
                    row.file = "(the findings)".into();
                    row.op = finding.op.to_owned();
                    row.case = finding.cases.first().copied().unwrap_or("").to_owned();
                    row.variant = "-".into();
                    row.output = "finding".into();
                    row.known_difference = None;
                    row.unsupported = false;
                    row.checks = vec![Check::failed(&row.subject.clone(), "finding", message)];
                    rows.push(row);
                }
            }
        }
    }
    details
}
