//! PyTorch itself, run in Python, as the reference for the losses libtorch has no op for
//! (torchvision's focal loss, `F.gaussian_nll_loss`, `F.multilabel_soft_margin_loss`,
//! `F.triplet_margin_with_distance_loss`). One `scripts/pytorch_reference.py` process serves a
//! whole process; what [`Implementation::prepare`] announces goes to it as one batch. Where Python
//! cannot be started, every such call is [`Evaluation::Unavailable`] and the recorded fixtures
//! stand in.

use super::replay::{Replay, Series};
use super::{
    ClipCall, Computed, Derivatives, Evaluation, Implementation, LossInput, OptimizerCode, OptimizerRun, RunGradients,
    ScheduleRun,
};
use crate::catalog::Reference;
use crate::error::Error;
use crate::optim::Stepper;
use crate::reference::python::{self, Request, Response, TensorSpec, Worker};
// A float64 in the protocol: a number, or "NaN", "inf", "-inf" (as in a checkpoint's JSON).
use crate::train::checkpoint::float_json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use tch::{Kind, Tensor};

/// PyTorch in Python: `torch.optim`'s for-loop implementations (and the losses), or with
/// `foreach`, its multi-tensor ones (which round differently; both are PyTorch). Every `PyTorch`
/// of a process shares its Python processes (one, and a second for a large batch) and their
/// answers (importing torch costs a second or two of CPU, so tests that build many registries
/// start them once); they end with the process, whose exit closes their pipes.
pub struct PyTorch {
    state: &'static Mutex<State>,
    foreach: bool,
    /// Whether Python runs now, or the fixtures' recordings of it stand in (the gate's default:
    /// fifty steps of hundreds of torch.optim runs take Python longer than the whole rest of a
    /// check, and importing torch for a few dozen loss cases took a fifth of the gate's CPU time;
    /// `regen --check`, which CI runs, checks those recordings against Python itself).
    live: bool,
}

/// Why PyTorch gave no answer outside `check --live`.
const NOT_LIVE: &str = "not run live; `check --live` runs PyTorch";

impl Default for PyTorch {
    fn default() -> Self {
        static SHARED: std::sync::OnceLock<Mutex<State>> = std::sync::OnceLock::new();
        PyTorch { state: SHARED.get_or_init(Default::default), foreach: false, live: true }
    }
}

/// A request on its way: its key, its JSON, and for a loss the typed request its answer is
/// read against.
#[derive(Clone)]
struct Job {
    key: String,
    json: Value,
    loss: Option<Request>,
}

#[derive(Clone)]
enum Answer {
    Loss(Response),
    Run(Value),
}

#[derive(Default)]
struct State {
    /// Up to [`workers`] Python processes, each started at its first need; `Err` once it
    /// could not be.
    workers: Vec<Option<Result<Worker, String>>>,
    /// Batches sent and not yet received, oldest first, with the worker each went to (each
    /// answers its own in order).
    in_flight: std::collections::VecDeque<(usize, Vec<Job>)>,
    answers: HashMap<String, Answer>,
    versions: Option<String>,
}

impl PyTorch {
    /// The for-loop (single-tensor) implementations: `foreach=False`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The multi-tensor implementations, `foreach=True`, where torch.optim has them.
    pub fn foreach() -> Self {
        PyTorch { foreach: true, ..Self::default() }
    }

    /// The same, with Python left to the fixtures' recordings (`live` false): asked for a loss or
    /// an optimizer run, it answers [`Error::Unavailable`], and the checker compares with the
    /// recorded values (replays the recorded run) instead.
    pub fn with_live(self, live: bool) -> Self {
        PyTorch { live, ..self }
    }

    /// The versions that answered ("torch 2.13.0+cu130, torchvision 0.28.0+cu130"), once any did.
    pub fn versions(&self) -> Option<String> {
        self.state.lock().ok()?.versions.clone()
    }

    /// PyTorch's answer to the request of `input`: `None` for an op it is not the reference of,
    /// an error when Python is not run (or cannot be).
    pub fn response(&self, input: &LossInput) -> Option<Result<Response, String>> {
        if self.foreach {
            return None;
        }
        let job = loss_job(input)?;
        if !self.live {
            return Some(Err(NOT_LIVE.into()));
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Some(state.answer(job).map(|a| match a {
            Answer::Loss(r) => r,
            Answer::Run(_) => unreachable!("a loss job has a loss answer"),
        }))
    }

    /// Whether torch.optim is this reference for `run`: the optimizers libtorch lacks, and the
    /// options libtorch's paths lack (`maximize` on RMSprop, and on Adagrad outside the fused
    /// kernel); with `foreach`, those with a multi-tensor implementation (all but Muon and
    /// SparseAdam).
    pub fn supports(&self, run: &OptimizerRun) -> bool {
        let python_only = crate::catalog::optimizers::find(run.optimizer).is_some_and(|o| o.python_only);
        let maximize = matches!(run.optimizer, "rmsprop" | "adagrad") && run.groups.iter().any(|g| g.maximize());
        let has_foreach = crate::catalog::optimizers::find(run.optimizer).is_some_and(|o| o.foreach);
        // torch.optim.lr_scheduler is the reference of a scheduled run (LBFGS excepted: its
        // reference is libtorch's C++ LBFGS, which has no scheduler).
        let scheduled = (run.scheduler.is_some() || run.grad_scaler.is_some()) && run.optimizer != "lbfgs";
        (python_only || maximize || scheduled) && (has_foreach || !self.foreach)
    }

    /// Python's raw answer to a request of the worker protocol (scripts/pytorch_reference.py),
    /// live whatever `live` says: the resume checks' runs.
    pub fn answer(&self, request: Value) -> Result<Value, String> {
        let job = Job { key: request.to_string(), json: request, loss: None };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.answer(job)? {
            Answer::Run(answer) => Ok(answer),
            Answer::Loss(_) => unreachable!("a run job has a run answer"),
        }
    }

    /// The worker request for an optimizer run (for-loop unless `foreach`).
    pub fn run_request(run: &OptimizerRun, foreach: bool) -> Option<Value> {
        run_json(run, foreach)
    }

    /// Python's answer to a schedule or clip request, as outputs: live only.
    fn outputs_of(&self, request: Value) -> Evaluation {
        if !self.live {
            return Evaluation::Unavailable(NOT_LIVE.into());
        }
        let job = Job { key: request.to_string(), json: request, loss: None };
        let answer = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.answer(job)
        };
        match answer {
            Err(message) => Evaluation::Unavailable(message),
            Ok(Answer::Loss(_)) => unreachable!("a run job has a run answer"),
            Ok(Answer::Run(answer)) => {
                if let Some(error) = answer.get("error").and_then(Value::as_str) {
                    return Evaluation::Rejected(error.to_owned());
                }
                match parse_series(&answer) {
                    Ok(series) => Evaluation::Computed(
                        series.into_iter().map(|(name, shape, values)| Computed { name, shape, values }).collect(),
                    ),
                    Err(e) => Evaluation::Unavailable(e),
                }
            }
        }
    }

    fn run_job(&self, run: &OptimizerRun) -> Option<Job> {
        let json = run_json(run, self.foreach)?;
        Some(Job { key: json.to_string(), json, loss: None })
    }
}

/// How many Python processes share a large batch: the machine's cores, at most 2. Announced
/// optimizer runs keep one process busy for tens of seconds (`regen`, `check --live`) while the
/// Rust side waits; a batch below [`SPLIT_FROM`] jobs goes to one process, to spare the second
/// its start (importing torch costs a second or two of CPU).
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 2)
}
const SPLIT_FROM: usize = 64;

impl State {
    fn worker(&mut self, w: usize) -> Result<&mut Worker, String> {
        if self.workers.len() <= w {
            self.workers.resize_with(w + 1, || None);
        }
        self.workers[w].get_or_insert_with(Worker::start).as_mut().map_err(|e| e.clone())
    }

    /// Whether the request is answered or on its way.
    fn known(&self, key: &str) -> bool {
        self.answers.contains_key(key) || self.in_flight.iter().flat_map(|(_, b)| b).any(|j| j.key == key)
    }

    /// Sends a batch; Python works on it while the caller goes on.
    fn send(&mut self, w: usize, batch: Vec<Job>) -> Result<(), String> {
        let requests: Vec<Value> = batch.iter().map(|j| j.json.clone()).collect();
        self.worker(w)?.send(&requests).inspect_err(|e| self.workers[w] = Some(Err(e.clone())))?;
        self.in_flight.push_back((w, batch));
        Ok(())
    }

    /// Receives the oldest batch in flight.
    fn receive(&mut self) -> Result<(), String> {
        let (w, batch) = self.in_flight.pop_front().expect("a batch in flight");
        // A worker that failed once is not asked again.
        let answers = self.worker(w)?.receive(batch.len()).inspect_err(|e| self.workers[w] = Some(Err(e.clone())))?;
        for (job, answer) in batch.into_iter().zip(answers) {
            self.versions.get_or_insert_with(|| python::versions(&answer));
            let answer = match &job.loss {
                Some(request) => Answer::Loss(python::parse_response(request, &answer)?),
                None => Answer::Run(answer),
            };
            self.answers.insert(job.key, answer);
        }
        Ok(())
    }

    /// Sends the jobs not yet known, as one batch.
    fn announce(&mut self, jobs: impl IntoIterator<Item = Job>) {
        let mut batch: Vec<Job> = Vec::new();
        for job in jobs {
            if !self.known(&job.key) && !batch.iter().any(|j| j.key == job.key) {
                batch.push(job);
            }
        }
        // A large batch is dealt out in turn (neighbouring runs cost alike). Unavailable Python
        // shows in each call's evaluation instead.
        let n = if batch.len() >= SPLIT_FROM { workers() } else { 1 };
        let mut shares: Vec<Vec<Job>> = vec![Vec::new(); n];
        for (i, job) in batch.into_iter().enumerate() {
            shares[i % n].push(job);
        }
        for (w, share) in shares.into_iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let _ = self.send(w, share);
        }
    }

    /// The answer to a job: received if it is in flight, asked for alone if not.
    fn answer(&mut self, job: Job) -> Result<Answer, String> {
        let key = job.key.clone();
        if !self.known(&key) {
            self.send(0, vec![job])?;
        }
        while !self.answers.contains_key(&key) {
            self.receive()?;
        }
        Ok(self.answers[&key].clone())
    }
}

impl Implementation for PyTorch {
    fn name(&self) -> &'static str {
        if self.foreach {
            "pytorch-foreach"
        } else {
            "pytorch"
        }
    }

    fn title(&self) -> &'static str {
        if self.foreach {
            "PyTorch in Python (torch.optim, foreach=True)"
        } else {
            "PyTorch in Python"
        }
    }

    fn provenance(&self) -> Option<String> {
        self.versions()
    }

    fn in_process(&self) -> bool {
        false
    }

    /// Sends the announced requests as one batch at once: Python (starting now, if it has not)
    /// works on them while the rest of the run goes on.
    fn prepare(&self, inputs: &[LossInput]) {
        if self.foreach || !self.live {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.announce(inputs.iter().filter_map(loss_job));
    }

    fn loss(&self, input: &LossInput) -> Evaluation {
        match self.response(input) {
            None => Evaluation::Unsupported,
            Some(Err(message)) => Evaluation::Unavailable(message),
            Some(Ok(response)) => match response.outputs(input.reduction.name()) {
                None => Evaluation::Unavailable(format!("Python gave no {} result", input.reduction)),
                Some(Err(message)) => Evaluation::Rejected(message.clone()),
                Some(Ok(outputs)) => {
                    // Python records every order it can at once; the input says how far to go.
                    let wanted = |name: &str| match input.derivatives {
                        Derivatives::None => name == "output",
                        Derivatives::First => !name.starts_with("grad2"),
                        Derivatives::Second => true,
                    };
                    if input.derivatives == Derivatives::Second {
                        if let Some(error) = outputs.iter().find_map(|o| o.error.as_ref()) {
                            return Evaluation::Rejected(format!("second backward failed: {error}"));
                        }
                    }
                    Evaluation::Computed(
                        outputs
                            .iter()
                            .filter(|o| o.error.is_none() && wanted(&o.name))
                            .map(|o| Computed {
                                name: o.name.clone(),
                                shape: o.shape.clone(),
                                values: o.values.clone(),
                            })
                            .collect(),
                    )
                }
            },
        }
    }

    fn recorded_in_full(&self) -> bool {
        true
    }

    /// torch.optim.lr_scheduler's schedule, live only (`check --live`, `regen`): else the
    /// fixture's recording of it is the reference.
    fn schedule(&self, run: &ScheduleRun) -> Evaluation {
        if self.foreach {
            return Evaluation::Unsupported;
        }
        let request = json!({
            "kind": "schedule", "scheduler": run.json, "optimizer": run.optimizer, "lrs": run.lrs,
            "steps": run.steps, "epochs": run.epochs, "metrics": run.metrics,
            "momentum": run.records_momentum(),
        });
        self.outputs_of(request)
    }

    /// torch.nn.utils's clipping, live only.
    fn clip(&self, call: &ClipCall) -> Evaluation {
        if self.foreach {
            return Evaluation::Unsupported;
        }
        let grads: Option<Vec<Value>> = call
            .names
            .iter()
            .zip(call.grads)
            .map(|(name, g)| match g {
                Some(g) => tensor_spec(name, g).map(|s| tensor_json(&s)),
                None => Some(json!({"name": name, "dtype": "none", "shape": [1], "values": [0.0]})),
            })
            .collect();
        let Some(grads) = grads else { return Evaluation::Rejected("a tensor Python cannot be sent".into()) };
        let options: serde_json::Map<String, Value> =
            call.options.iter().map(|(n, v)| ((*n).to_owned(), option_json(*v))).collect();
        let dtype = call.dtype.name();
        self.outputs_of(
            json!({"kind": "clip", "function": call.spec.id, "dtype": dtype, "options": options, "grads": grads}),
        )
    }

    fn has_optimizer(&self, run: &OptimizerRun) -> bool {
        self.supports(run)
    }

    fn prepare_optimizers(&self, runs: &[OptimizerRun]) {
        if !self.live {
            return;
        }
        let jobs: Vec<Job> = runs.iter().filter(|r| self.supports(r)).filter_map(|r| self.run_job(r)).collect();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.announce(jobs);
    }

    /// The whole run, computed by torch.optim at once and replayed step by step. Python that
    /// cannot run is [`Error::Unavailable`]; an optimizer torch.optim refuses is
    /// [`Error::InvalidArgument`] with its message.
    fn optimizer_code(&self, _: &OptimizerRun) -> Option<OptimizerCode> {
        Some(if self.foreach { OptimizerCode::TorchForeach } else { OptimizerCode::TorchForLoop })
    }

    fn optimizer(&self, run: &OptimizerRun) -> Option<crate::Result<Box<dyn Stepper>>> {
        if !self.supports(run) {
            return None;
        }
        if !self.live {
            return Some(Err(Error::Unavailable("not run live; `check --live` runs torch.optim".into())));
        }
        let Some(job) = self.run_job(run) else {
            return Some(Err(Error::InvalidArgument("a tensor Python cannot be sent".into())));
        };
        let answer = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.answer(job)
        };
        Some(match answer {
            Err(message) => Err(Error::Unavailable(message)),
            Ok(Answer::Loss(_)) => unreachable!("a run job has a run answer"),
            Ok(Answer::Run(answer)) => replay_of(run, &answer),
        })
    }
}

/// The replay of a run's answer, or torch.optim's error.
fn replay_of(run: &OptimizerRun, answer: &Value) -> crate::Result<Box<dyn Stepper>> {
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(Error::InvalidArgument(error.to_owned()));
    }
    let owned = parse_series(answer).map_err(Error::InvalidArgument)?;
    let series: Vec<Series> = owned.iter().map(|(label, shape, values)| Series { label, shape, values }).collect();
    Ok(Box::new(Replay::new(run.names, run.params, &series, run.steps, run.kind())?))
}

/// One series of Python's answer, owned: label, shape (steps first), values.
pub type OwnedSeries = (String, Vec<i64>, Vec<f64>);

/// The recorded series of a run's answer.
pub fn parse_series(answer: &Value) -> Result<Vec<OwnedSeries>, String> {
    let all = answer["series"].as_object().ok_or("Python's answer has no series")?;
    all.iter()
        .map(|(label, s)| {
            let shape =
                s["shape"].as_array().ok_or("a series without a shape")?.iter().filter_map(Value::as_i64).collect();
            let values = s["data"]
                .as_array()
                .ok_or("a series without data")?
                .iter()
                .map(python::number)
                .collect::<Result<_, _>>()?;
            Ok((label.clone(), shape, values))
        })
        .collect()
}

/// The request for a run.
fn run_json(run: &OptimizerRun, foreach: bool) -> Option<Value> {
    let tensor = |name: &str, t: &Tensor| tensor_spec(name, t).map(|s| tensor_json(&s));
    let params = run.names.iter().zip(run.params).map(|(n, t)| tensor(n, t)).collect::<Option<Vec<_>>>()?;
    let groups: Vec<Value> = run
        .groups
        .iter()
        .enumerate()
        .map(|(g, options)| {
            let members: Vec<usize> = (0..run.params.len()).filter(|&i| run.group_of[i] == g).collect();
            let options: serde_json::Map<String, Value> =
                options.values().into_iter().map(|(n, v)| (n.to_owned(), option_json(v))).collect();
            json!({"params": members, "options": options})
        })
        .collect();
    let dtype = match run.kind() {
        Kind::Double => "float64",
        Kind::Half => "float16",
        Kind::BFloat16 => "bfloat16",
        _ => "float32",
    };
    let mut request = json!({
        "kind": "optimizer", "optimizer": run.optimizer, "dtype": dtype, "foreach": foreach, "steps": run.steps,
        "groups": groups, "lr_schedule": run.lr_schedule, "params": params, "no_grad": run.no_grad,
    });
    if let Some(scheduler) = run.scheduler {
        request["scheduler"] = scheduler.json.clone();
        request["metrics"] = json!(run.metrics);
    }
    if let Some(o) = run.grad_scaler {
        request["grad_scaler"] = json!({
            "init_scale": o.init_scale, "growth_factor": o.growth_factor, "backoff_factor": o.backoff_factor,
            "growth_interval": o.growth_interval, "enabled": o.enabled,
        });
        let inject: Vec<Value> = run.inject.iter().map(|&(k, i, v)| json!([k, i, float_json(v)])).collect();
        request["inject"] = Value::Array(inject);
    }
    match run.gradients {
        RunGradients::Objective { id, data } => {
            request["objective"] = Value::from(id);
            request["data"] = Value::Array(data.iter().map(|(n, t)| tensor(n, t)).collect::<Option<Vec<_>>>()?);
        }
        RunGradients::Given(steps) => {
            // Sparse gradients go as their dense values, made sparse again (by rows) in Python.
            let sparse = steps.iter().flatten().any(Tensor::is_sparse);
            let dense = |g: &Tensor| if g.is_sparse() { g.to_dense(None, false) } else { g.shallow_clone() };
            let steps = steps
                .iter()
                .map(|grads| {
                    let specs = grads.iter().zip(run.names).map(|(g, n)| tensor(n, &dense(g)));
                    specs.collect::<Option<Vec<_>>>().map(Value::Array)
                })
                .collect::<Option<Vec<_>>>()?;
            request["gradients"] = Value::Array(steps);
            request["sparse_gradients"] = Value::Bool(sparse);
        }
    }
    Some(request)
}

fn tensor_json(t: &TensorSpec) -> Value {
    json!({"name": t.name, "dtype": t.dtype, "shape": t.shape, "values": t.values, "requires_grad": t.requires_grad})
}

fn loss_job(input: &LossInput) -> Option<Job> {
    let (key, request) = request_of(input)?;
    Some(Job { key, json: python::request_json(&request), loss: Some(request) })
}

/// The request for `input` (every reduction of its op at once), and a key that identifies it.
fn request_of(input: &LossInput) -> Option<(String, Request)> {
    let Reference::Python(function) = input.spec.reference else { return None };
    let options = (input.spec.options.resolve)(&input.args.options).ok()?;
    let inputs = input.args.tensors.iter().map(|(name, t)| tensor_spec(name, t)).collect::<Option<Vec<_>>>()?;
    let request = Request {
        function,
        dtype: input.dtype.name(),
        reductions: input.spec.reductions().iter().map(|r| r.name()).collect(),
        options: options.into_iter().map(|(name, value)| (name.to_owned(), option_json(value))).collect(),
        inputs,
    };
    let key = format!("{request:?}");
    Some((key, request))
}

fn option_json(value: crate::options::OptionValue) -> Value {
    use crate::options::OptionValue;
    match value {
        OptionValue::Bool(b) => Value::Bool(b),
        OptionValue::Int(i) => Value::from(i),
        OptionValue::Float(x) => float_json(x),
        OptionValue::None => Value::Null,
    }
}

/// A tensor as the protocol sends it: its exact values (float32, float16 and bfloat16 values are
/// exact in float64).
fn tensor_spec(name: &str, t: &Tensor) -> Option<TensorSpec> {
    let flat = t.f_detach().ok()?.f_reshape([-1]).ok()?;
    let (dtype, values): (&'static str, Vec<Value>) = match t.kind() {
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16 => {
            let values = Vec::<f64>::try_from(flat.f_to_kind(Kind::Double).ok()?).ok()?;
            ("float", values.into_iter().map(float_json).collect())
        }
        Kind::Int64 => ("int64", Vec::<i64>::try_from(flat).ok()?.into_iter().map(Value::from).collect()),
        Kind::Bool => ("bool", Vec::<bool>::try_from(flat).ok()?.into_iter().map(Value::from).collect()),
        _ => return None,
    };
    Some(TensorSpec { name: name.to_owned(), dtype, shape: t.size(), values, requires_grad: t.requires_grad() })
}
