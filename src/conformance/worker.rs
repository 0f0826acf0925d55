//! A [`Subject`] in another process, spoken to in JSON lines: one request per line on its
//! standard input, one answer per line on its standard output. Any program in any language can
//! be checked this way; burn's adapter (`adapters/burn`) is one, because burn 0.22 cannot be
//! linked beside tch 0.26 (see [`Worker::burn`]). The program is started once per dtype, with
//! `--dtype <name>` as its last argument, and asked only for that dtype.
//!
//! The protocol (every tensor `{"shape": [..], "dtype": "float32" | "float64" | "float16" |
//! "bfloat16" | "int64" | "bool", "data": [..]}`, floats as the fixtures write them: JSON numbers,
//! exact, or the strings `"NaN"`, `"inf"`, `"-inf"`):
//!
//! Requests, and the `value` of their answers:
//!
//! - `{"hello": {}}`: `{"title": "burn 0.22.1 (Flex backend, autodiff)"}`;
//! - `{"loss": {"op", "dtype", "reduction", "options": {name: value}, "inputs": [{"name",
//!   "tensor", "requires_grad"}]}}`: `{"output": tensor, "grads": {name: tensor}}`;
//! - `{"optimizer": {"id", "groups": [{name: value}], "group_of": [..], "params": [tensor]}}`:
//!   `{"handle": n}`;
//! - `{"step": {"handle", "grads": [tensor or null]}}`: `{"params": [tensor], "state":
//!   [{name: tensor}]}`;
//! - `{"set_lr": {"handle", "lr"}}` and `{"drop": {"handle"}}`: `{}`.
//!
//! Every answer is `{"value": ..}`, `{"rejects": "message"}` or `{"unsupported": "why"}`.

use super::{Answer, HostData, HostTensor, LossCase, LossOutput, OptimizerSetup, OptimizerUnderTest, Subject};
use crate::dtype::DType;
use crate::options::OptionValue;
use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A subject answering over pipes: one process per dtype, started when that dtype is first
/// asked for, with `--dtype <name>` as its last argument (a framework such as burn fixes its
/// default float dtype once per device, so a process computes in one dtype).
pub struct Worker {
    name: &'static str,
    title: String,
    command: Box<dyn Fn() -> Command + Send + Sync>,
    pipes: Mutex<Vec<(DType, Arc<Mutex<Pipe>>)>>,
}

struct Pipe {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pipe {
    fn call(&mut self, request: &Value) -> Result<Value, String> {
        let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
        writeln!(self.stdin, "{line}").and_then(|()| self.stdin.flush()).map_err(|e| format!("worker gone: {e}"))?;
        let mut answer = String::new();
        match self.stdout.read_line(&mut answer) {
            Ok(0) => Err("the worker exited (see its standard error)".into()),
            Ok(_) => serde_json::from_str(&answer).map_err(|e| format!("the worker's answer is not JSON: {e}")),
            Err(e) => Err(format!("worker gone: {e}")),
        }
    }
}

/// An answer as [`Answer`]: its `value`, a rejection, or unsupported.
fn answer(result: Result<Value, String>) -> Answer<Value> {
    match result {
        Err(e) => Answer::Rejects(e),
        Ok(mut v) => {
            if let Some(value) = v.get_mut("value") {
                Answer::Value(value.take())
            } else if let Some(message) = v.get("rejects") {
                Answer::Rejects(message.as_str().unwrap_or("rejected").to_owned())
            } else if v.get("unsupported").is_some() {
                Answer::Unsupported
            } else {
                Answer::Rejects(format!("the worker answered neither value, rejects nor unsupported: {v}"))
            }
        }
    }
}

impl Worker {
    /// A worker run as `command` (once per dtype, with `--dtype <name>` appended); its float32
    /// process is started and greeted now, so that a broken worker is reported at once.
    pub fn spawn(name: &'static str, command: impl Fn() -> Command + Send + Sync + 'static) -> Result<Worker, String> {
        let mut worker =
            Worker { name, title: name.to_owned(), command: Box::new(command), pipes: Mutex::new(Vec::new()) };
        let (_, title) = worker.start(DType::Float32)?;
        worker.title = title;
        Ok(worker)
    }

    /// burn's adapter, `adapters/burn`: built with cargo on first use (a few minutes; later runs
    /// find it built), then started.
    ///
    /// It is a program of its own, with its own lock file, because burn 0.22's backend
    /// dispatcher has an optional dependency on burn-tch, which links torch-sys 0.22, and cargo
    /// resolves a lock file with every optional dependency in it: a package that depends on
    /// both tch 0.26 and burn fails to resolve ("links to the native library `tch`, but it
    /// conflicts", rust-lang/cargo#10066), even with burn's tch feature off.
    pub fn burn() -> Result<Worker, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/burn");
        let manifest = root.join("Cargo.toml");
        let binary = root.join("target/debug/tch-parity-burn");
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "--manifest-path"]).arg(&manifest);
        if binary.exists() {
            // Up to date, or a quick rebuild: nothing to show.
            cargo.arg("--quiet");
        } else {
            eprintln!("tch-parity: building burn's adapter (adapters/burn), a few minutes the first time");
        }
        let status = cargo.status().map_err(|e| format!("cannot run cargo to build {}: {e}", manifest.display()))?;
        if !status.success() {
            return Err(format!("building {} failed", manifest.display()));
        }
        Worker::spawn("burn", move || Command::new(&binary))
    }

    /// Starts the process for `dtype` and greets it: its pipe and its title.
    fn start(&self, dtype: DType) -> Result<(Arc<Mutex<Pipe>>, String), String> {
        let mut command = (self.command)();
        command.arg("--dtype").arg(dtype.name());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut pipe = Pipe { child, stdin, stdout };
        let name = self.name;
        let hello = match answer(pipe.call(&json!({"hello": {}}))) {
            Answer::Value(v) => v,
            Answer::Rejects(e) => return Err(format!("{name} worker: {e}")),
            Answer::Unsupported => return Err(format!("{name} worker does not answer hello")),
        };
        let title = hello.get("title").and_then(Value::as_str).unwrap_or(name).to_owned();
        let pipe = Arc::new(Mutex::new(pipe));
        self.pipes.lock().unwrap_or_else(|e| e.into_inner()).push((dtype, Arc::clone(&pipe)));
        Ok((pipe, title))
    }

    /// The process for `dtype`, started if need be.
    fn pipe(&self, dtype: DType) -> Result<Arc<Mutex<Pipe>>, String> {
        let found = self
            .pipes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|(d, _)| *d == dtype)
            .map(|(_, p)| Arc::clone(p));
        match found {
            Some(pipe) => Ok(pipe),
            None => self.start(dtype).map(|(pipe, _)| pipe),
        }
    }

    fn call(&self, dtype: DType, request: &Value) -> Answer<Value> {
        match self.pipe(dtype) {
            Ok(pipe) => answer(pipe.lock().unwrap_or_else(|e| e.into_inner()).call(request)),
            Err(e) => Answer::Rejects(e),
        }
    }
}

/// A tensor as the protocol writes it.
pub fn tensor_json(t: &HostTensor) -> Value {
    let (dtype, data): (&str, Vec<Value>) = match &t.data {
        HostData::Float { dtype, values } => (dtype.name(), values.iter().map(|&x| float_json(x)).collect()),
        HostData::Int(values) => ("int64", values.iter().map(|&i| json!(i)).collect()),
        HostData::Bool(values) => ("bool", values.iter().map(|&b| json!(b)).collect()),
    };
    json!({"shape": t.shape, "dtype": dtype, "data": data})
}

/// A float exactly, as the fixtures write one (`fixture::float`): a JSON number, or "NaN",
/// "inf", "-inf".
fn float_json(x: f64) -> Value {
    crate::fixture::float::to_json(x, DType::Float64)
}

/// A tensor as the protocol writes it, read back (floats must be of a known dtype).
pub fn tensor_from_json(v: &Value) -> Result<HostTensor, String> {
    let shape: Vec<usize> = v
        .get("shape")
        .and_then(Value::as_array)
        .ok_or("a tensor without a shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("a shape of non-negative integers"))
        .collect::<Result<_, _>>()?;
    let data = v.get("data").and_then(Value::as_array).ok_or("a tensor without data")?;
    let dtype = v.get("dtype").and_then(Value::as_str).ok_or("a tensor without a dtype")?;
    let data = match dtype {
        "int64" => {
            HostData::Int(data.iter().map(|x| x.as_i64().ok_or("an int64 that is not")).collect::<Result<_, _>>()?)
        }
        "bool" => {
            HostData::Bool(data.iter().map(|x| x.as_bool().ok_or("a bool that is not")).collect::<Result<_, _>>()?)
        }
        name => {
            let dtype: DType = name.parse().map_err(|_| format!("unknown dtype {name}"))?;
            let values = data.iter().map(float_from_json).collect::<Result<_, _>>()?;
            HostData::Float { dtype, values }
        }
    };
    Ok(HostTensor { shape, data })
}

fn float_from_json(v: &Value) -> Result<f64, String> {
    crate::fixture::float::from_json(v, DType::Float64)
}

fn options_json(values: &[(&'static str, OptionValue)]) -> Value {
    Value::Object(values.iter().map(|(n, v)| ((*n).to_owned(), crate::fuzz::option_json(*v))).collect::<Map<_, _>>())
}

impl Subject for Worker {
    fn name(&self) -> &'static str {
        self.name
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn loss(&self, case: &LossCase) -> Answer<LossOutput> {
        let inputs: Vec<Value> = case
            .inputs
            .iter()
            .map(|i| json!({"name": i.name, "tensor": tensor_json(&i.tensor), "requires_grad": i.requires_grad}))
            .collect();
        let request = json!({"loss": {
            "op": case.op,
            "dtype": case.dtype.name(),
            "reduction": case.reduction.name(),
            "options": options_json(&case.options),
            "inputs": inputs,
        }});
        match self.call(case.dtype, &request) {
            Answer::Value(v) => match loss_output(&v) {
                Ok(out) => Answer::Value(out),
                Err(e) => Answer::Rejects(format!("the worker's answer: {e}")),
            },
            Answer::Rejects(e) => Answer::Rejects(e),
            Answer::Unsupported => Answer::Unsupported,
        }
    }

    fn optimizer(&self, setup: &OptimizerSetup) -> Answer<Box<dyn OptimizerUnderTest>> {
        let groups: Vec<Value> = setup.groups.iter().map(|g| options_json(&g.values())).collect();
        let request = json!({"optimizer": {
            "id": setup.optimizer,
            "groups": groups,
            "group_of": setup.group_of,
            "params": setup.params.iter().map(tensor_json).collect::<Vec<_>>(),
        }});
        let dtype = setup.params.first().and_then(HostTensor::dtype).unwrap_or(DType::Float32);
        let pipe = match self.pipe(dtype) {
            Ok(pipe) => pipe,
            Err(e) => return Answer::Rejects(e),
        };
        let created = answer(pipe.lock().unwrap_or_else(|e| e.into_inner()).call(&request));
        match created {
            Answer::Value(v) => match v.get("handle").and_then(Value::as_u64) {
                Some(handle) => Answer::Value(Box::new(WorkerOptimizer {
                    io: pipe,
                    handle,
                    params: setup.params.clone(),
                    state: vec![Vec::new(); setup.params.len()],
                })),
                None => Answer::Rejects(format!("the worker's answer has no handle: {v}")),
            },
            Answer::Rejects(e) => Answer::Rejects(e),
            Answer::Unsupported => Answer::Unsupported,
        }
    }
}

fn loss_output(v: &Value) -> Result<LossOutput, String> {
    let output = tensor_from_json(v.get("output").ok_or("no output")?)?;
    let mut out = LossOutput::new(output);
    if let Some(grads) = v.get("grads").and_then(Value::as_object) {
        for (name, g) in grads {
            out = out.with_grad(name, tensor_from_json(g)?);
        }
    }
    Ok(out)
}

/// An optimizer living in the worker, by handle; its parameters and state as of the last step.
struct WorkerOptimizer {
    io: Arc<Mutex<Pipe>>,
    handle: u64,
    params: Vec<HostTensor>,
    state: Vec<Vec<(String, HostTensor)>>,
}

impl WorkerOptimizer {
    fn call(&self, request: &Value) -> Answer<Value> {
        answer(self.io.lock().unwrap_or_else(|e| e.into_inner()).call(request))
    }
}

impl Drop for WorkerOptimizer {
    fn drop(&mut self) {
        let _ = self.call(&json!({"drop": {"handle": self.handle}}));
    }
}

impl OptimizerUnderTest for WorkerOptimizer {
    fn step(&mut self, grads: &[Option<HostTensor>]) -> Result<(), String> {
        let grads: Vec<Value> = grads.iter().map(|g| g.as_ref().map_or(Value::Null, tensor_json)).collect();
        let v = match self.call(&json!({"step": {"handle": self.handle, "grads": grads}})) {
            Answer::Value(v) => v,
            Answer::Rejects(e) => return Err(e),
            Answer::Unsupported => return Err("the worker does not step this optimizer".into()),
        };
        let params = v.get("params").and_then(Value::as_array).ok_or("no params in the worker's answer")?;
        self.params = params.iter().map(tensor_from_json).collect::<Result<_, _>>()?;
        if let Some(state) = v.get("state").and_then(Value::as_array) {
            self.state = state
                .iter()
                .map(|per_param| {
                    per_param
                        .as_object()
                        .map(|m| m.iter().map(|(n, t)| Ok((n.clone(), tensor_from_json(t)?))).collect())
                        .unwrap_or(Ok(Vec::new()))
                })
                .collect::<Result<_, String>>()?;
        }
        Ok(())
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), String> {
        match self.call(&json!({"set_lr": {"handle": self.handle, "lr": float_json(lr)}})) {
            Answer::Value(_) => Ok(()),
            Answer::Rejects(e) => Err(e),
            Answer::Unsupported => Err("the worker cannot change the learning rate".into()),
        }
    }

    fn params(&self) -> Vec<HostTensor> {
        self.params.clone()
    }

    fn state(&self, index: usize) -> Vec<(String, HostTensor)> {
        self.state.get(index).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_round_trip_through_the_protocol_exactly() {
        let t = HostTensor::float([4], DType::Float64, vec![0.1, f64::NAN, f64::NEG_INFINITY, -1e-310]);
        let back = tensor_from_json(&tensor_json(&t)).unwrap();
        let (a, b) = (t.floats().unwrap(), back.floats().unwrap());
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())));
        let ints = HostTensor::ints([2], vec![-100, 3]);
        assert_eq!(tensor_from_json(&tensor_json(&ints)).unwrap(), ints);
    }
}
