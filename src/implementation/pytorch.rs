//! PyTorch itself, run in Python, as the reference for the losses libtorch has no op for
//! (torchvision's focal loss, `F.gaussian_nll_loss`, `F.multilabel_soft_margin_loss`,
//! `F.triplet_margin_with_distance_loss`). One `scripts/pytorch_reference.py` process serves a
//! whole process; what [`Implementation::prepare`] announces goes to it as one batch. Where Python
//! cannot be started, every such call is [`Evaluation::Unavailable`] and the recorded fixtures
//! stand in.

use super::{Computed, Evaluation, Implementation, LossInput};
use crate::catalog::Reference;
use crate::reference::python::{Request, Response, TensorSpec, Worker};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use tch::{Kind, Tensor};

/// PyTorch in Python. Every `PyTorch` of a process shares one Python process and its answers
/// (importing torch costs a second or two of CPU, so tests that build many registries start it
/// once); it ends with the process, whose exit closes its pipes.
pub struct PyTorch {
    state: &'static Mutex<State>,
}

impl Default for PyTorch {
    fn default() -> Self {
        static SHARED: std::sync::OnceLock<Mutex<State>> = std::sync::OnceLock::new();
        PyTorch { state: SHARED.get_or_init(Default::default) }
    }
}

#[derive(Default)]
struct State {
    /// Started at the first need; `Err` once it could not be.
    worker: Option<Result<Worker, String>>,
    /// Batches sent and not yet received, oldest first, with each request's key.
    in_flight: std::collections::VecDeque<Vec<(String, Request)>>,
    answers: HashMap<String, Response>,
    versions: Option<String>,
}

impl PyTorch {
    pub fn new() -> Self {
        Self::default()
    }

    /// The versions that answered ("torch 2.13.0+cu130, torchvision 0.28.0+cu130"), once any did.
    pub fn versions(&self) -> Option<String> {
        self.state.lock().ok()?.versions.clone()
    }

    /// PyTorch's answer to the request of `input`: `None` for an op it is not the reference of.
    pub fn response(&self, input: &LossInput) -> Option<Result<Response, String>> {
        let (key, request) = request_of(input)?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Some(state.answer(key, request))
    }
}

impl State {
    fn worker(&mut self) -> Result<&mut Worker, String> {
        self.worker.get_or_insert_with(Worker::start).as_mut().map_err(|e| e.clone())
    }

    /// Whether the request is answered or on its way.
    fn known(&self, key: &str) -> bool {
        self.answers.contains_key(key) || self.in_flight.iter().flatten().any(|(k, _)| k == key)
    }

    /// Sends a batch; Python works on it while the caller goes on.
    fn send(&mut self, batch: Vec<(String, Request)>) -> Result<(), String> {
        let requests: Vec<Request> = batch.iter().map(|(_, r)| r.clone()).collect();
        self.worker()?.send(&requests).inspect_err(|e| self.worker = Some(Err(e.clone())))?;
        self.in_flight.push_back(batch);
        Ok(())
    }

    /// Receives the oldest batch in flight.
    fn receive(&mut self) -> Result<(), String> {
        let batch = self.in_flight.pop_front().expect("a batch in flight");
        let requests: Vec<Request> = batch.iter().map(|(_, r)| r.clone()).collect();
        // A worker that failed once is not asked again.
        let answers = self.worker()?.receive(&requests).inspect_err(|e| self.worker = Some(Err(e.clone())))?;
        for ((key, _), answer) in batch.into_iter().zip(answers) {
            self.versions.get_or_insert_with(|| answer.versions.clone());
            self.answers.insert(key, answer);
        }
        Ok(())
    }

    /// The answer to a request: received if it is in flight, asked for alone if not.
    fn answer(&mut self, key: String, request: Request) -> Result<Response, String> {
        if !self.known(&key) {
            self.send(vec![(key.clone(), request)])?;
        }
        while !self.answers.contains_key(&key) {
            self.receive()?;
        }
        Ok(self.answers[&key].clone())
    }
}

impl Implementation for PyTorch {
    fn name(&self) -> &'static str {
        "pytorch"
    }

    fn title(&self) -> &'static str {
        "PyTorch in Python"
    }

    fn provenance(&self) -> Option<String> {
        self.versions()
    }

    /// Sends the announced requests as one batch at once: Python (starting now, if it has not)
    /// works on them while the rest of the run goes on.
    fn prepare(&self, inputs: &[LossInput]) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut batch: Vec<(String, Request)> = Vec::new();
        for (key, request) in inputs.iter().filter_map(request_of) {
            if !state.known(&key) && !batch.iter().any(|(k, _)| *k == key) {
                batch.push((key, request));
            }
        }
        if !batch.is_empty() {
            // Unavailable Python shows in each call's evaluation instead.
            let _ = state.send(batch);
        }
    }

    fn loss(&self, input: &LossInput) -> Evaluation {
        match self.response(input) {
            None => Evaluation::Unsupported,
            Some(Err(message)) => Evaluation::Unavailable(message),
            Some(Ok(response)) => match response.outputs(input.reduction.name()) {
                None => Evaluation::Unavailable(format!("Python gave no {} result", input.reduction)),
                Some(Err(message)) => Evaluation::Rejected(message.clone()),
                Some(Ok(outputs)) => Evaluation::Computed(
                    outputs
                        .iter()
                        .map(|o| Computed { name: o.name.clone(), shape: o.shape.clone(), values: o.values.clone() })
                        .collect(),
                ),
            },
        }
    }
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
    }
}

/// A float64 in the protocol: the shortest decimal that reads back to it, or "NaN", "inf", "-inf".
fn float_json(x: f64) -> Value {
    if x.is_nan() {
        Value::from("NaN")
    } else if x.is_infinite() {
        Value::from(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        serde_json::Number::from_f64(x).map(Value::Number).expect("finite")
    }
}

/// A tensor as the protocol sends it: its exact values (float32 values are exact in float64).
fn tensor_spec(name: &str, t: &Tensor) -> Option<TensorSpec> {
    let flat = t.f_detach().ok()?.f_reshape([-1]).ok()?;
    let (dtype, values): (&'static str, Vec<Value>) = match t.kind() {
        Kind::Float | Kind::Double => {
            let values = Vec::<f64>::try_from(flat.f_to_kind(Kind::Double).ok()?).ok()?;
            ("float", values.into_iter().map(float_json).collect())
        }
        Kind::Int64 => ("int64", Vec::<i64>::try_from(flat).ok()?.into_iter().map(Value::from).collect()),
        Kind::Bool => ("bool", Vec::<bool>::try_from(flat).ok()?.into_iter().map(Value::from).collect()),
        _ => return None,
    };
    Some(TensorSpec { name: name.to_owned(), dtype, shape: t.size(), values, requires_grad: t.requires_grad() })
}
