//! PyTorch in Python as a reference, for the functions libtorch has no op for (torchvision's focal
//! loss, `F.gaussian_nll_loss`, …): one `scripts/pytorch_reference.py` process serves a whole run,
//! a batch of requests per round trip. The protocol is framework-neutral (names, shapes, float64
//! values), so nothing here knows the catalogue or the fixture format.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// One input tensor of a request. Float values are the exact values at the run's dtype.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub name: String,
    /// "float", "int64" or "bool".
    pub dtype: &'static str,
    pub shape: Vec<i64>,
    /// JSON numbers (or "NaN", "inf", "-inf"), ints or bools.
    pub values: Vec<Value>,
    pub requires_grad: bool,
}

/// A call of one Python function at one dtype, for each of `reductions`.
#[derive(Debug, Clone)]
pub struct Request {
    /// The name `pytorch_reference.py` knows the function by, e.g. "torchvision.ops.sigmoid_focal_loss".
    pub function: &'static str,
    /// "float32" or "float64".
    pub dtype: &'static str,
    pub reductions: Vec<&'static str>,
    /// Every option by name, as JSON.
    pub options: serde_json::Map<String, Value>,
    pub inputs: Vec<TensorSpec>,
}

/// One output of a call: "output", "grad.<input>" or "grad2.<input>", with float64 values; or
/// "grad2" with the error of a second backward pass that failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub shape: Vec<i64>,
    pub values: Vec<f64>,
    pub error: Option<String>,
}

/// What Python answered for one request: per reduction, the outputs or the exception raised.
#[derive(Debug, Clone)]
pub struct Response {
    /// "torch 2.13.0+cu130, torchvision 0.28.0+cu130".
    pub versions: String,
    pub outputs: Vec<(String, Result<Vec<Output>, String>)>,
}

impl Response {
    pub fn outputs(&self, reduction: &str) -> Option<&Result<Vec<Output>, String>> {
        self.outputs.iter().find(|(r, _)| r == reduction).map(|(_, o)| o)
    }
}

/// The interpreter of the environment scripts/provision.sh installed: `TCH_PARITY_PYTHON_ENV`,
/// else the one beside the libtorch `.libtorch` links to, else `python3`.
pub fn interpreter() -> PathBuf {
    if let Some(p) = std::env::var_os("TCH_PARITY_PYTHON_ENV") {
        return PathBuf::from(p);
    }
    let link = Path::new(env!("CARGO_MANIFEST_DIR")).join(".libtorch");
    // .libtorch -> <env>/lib/python3.X/site-packages/torch
    if let Some(env) = std::fs::canonicalize(link).ok().as_deref().and_then(|t| t.ancestors().nth(4)) {
        let python = env.join("bin/python");
        if python.exists() {
            return python;
        }
    }
    PathBuf::from("python3")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pytorch_reference.py")
}

/// A running `pytorch_reference.py`. Starting it returns at once, and so does sending a batch
/// (a thread writes it): Python imports torch (a second or two) and computes while the caller
/// does other work, and [`Worker::receive`] waits only for what is not ready yet.
pub struct Worker {
    child: Child,
    /// Lines to write to Python's standard input, by the writer thread.
    lines: Option<std::sync::mpsc::Sender<String>>,
    writer: Option<std::thread::JoinHandle<()>>,
    stdout: BufReader<ChildStdout>,
    python: PathBuf,
    /// The sizes of the batches sent and not yet received, oldest first.
    in_flight: std::collections::VecDeque<usize>,
}

impl Worker {
    pub fn start() -> Result<Worker, String> {
        let python = interpreter();
        let mut child = Command::new(&python)
            .arg(script())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("cannot run {} (set TCH_PARITY_PYTHON_ENV, or run scripts/tch-parity): {e}", python.display())
            })?;
        let mut stdin: ChildStdin = child.stdin.take().expect("stdin is piped");
        let (lines, queue) = std::sync::mpsc::channel::<String>();
        // Ends when the sender is dropped, or when Python stops reading.
        let writer = std::thread::spawn(move || {
            for line in queue {
                if writeln!(stdin, "{line}").and_then(|_| stdin.flush()).is_err() {
                    break;
                }
            }
        });
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Worker { child, lines: Some(lines), writer: Some(writer), stdout, python, in_flight: Default::default() })
    }

    /// Sends `requests` (each a request's JSON) as one batch, without waiting for Python.
    pub fn send(&mut self, requests: &[Value]) -> Result<(), String> {
        let payload = Value::Array(requests.to_vec());
        let lines = self.lines.as_ref().ok_or_else(|| "the Python reference has stopped".to_owned())?;
        lines.send(payload.to_string()).map_err(|_| "the Python reference has stopped".to_owned())?;
        self.in_flight.push_back(requests.len());
        Ok(())
    }

    /// The answers (JSON) to the oldest batch sent and not yet received, in its order; `count`
    /// is that batch's size.
    pub fn receive(&mut self, count: usize) -> Result<Vec<Value>, String> {
        if self.in_flight.pop_front() != Some(count) {
            return Err("the Python reference was asked out of order".into());
        }
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return Err(self.failure()),
        }
        let results: Vec<Value> =
            serde_json::from_str(&line).map_err(|e| format!("unreadable answer from Python: {e}"))?;
        if results.len() != count {
            return Err(format!("Python answered {} of {count} requests", results.len()));
        }
        Ok(results)
    }

    /// Why the process stopped answering: the last line it wrote to standard error.
    fn failure(&mut self) -> String {
        self.lines = None;
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        let _ = self.child.wait();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        format!("{} {} failed: {last}", self.python.display(), script().display())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Nothing more will be read: Python may still be working on a batch sent ahead (and
        // would block writing an answer nobody reads), so it is stopped, not waited for.
        self.lines = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// A loss request as the protocol sends it.
pub fn request_json(r: &Request) -> Value {
    let inputs: Vec<Value> = r
        .inputs
        .iter()
        .map(|t| {
            json!({
                "name": t.name, "dtype": t.dtype, "shape": t.shape, "values": t.values, "requires_grad": t.requires_grad
            })
        })
        .collect();
    json!({
        "function": r.function, "dtype": r.dtype, "reductions": r.reductions, "options": r.options, "inputs": inputs
    })
}

/// A float64 from the protocol's JSON: a number or "NaN", "inf", "-inf".
pub fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.to_string().parse::<f64>().map_err(|e| e.to_string()),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "inf" => Ok(f64::INFINITY),
        Value::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        other => Err(format!("expected a number, found {other}")),
    }
}

/// The versions an answer names: "torch 2.13.0+cu130, torchvision 0.28.0+cu130".
pub fn versions(v: &Value) -> String {
    v["versions"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?"))).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// The answer to a loss request.
pub fn parse_response(request: &Request, v: &Value) -> Result<Response, String> {
    let versions = versions(v);
    let mut outputs = Vec::new();
    for &reduction in &request.reductions {
        let entry = &v["outputs"][reduction];
        let recorded = if let Some(error) = entry.get("error").and_then(Value::as_str) {
            Err(error.to_owned())
        } else {
            let list = entry.as_array().ok_or_else(|| format!("no {reduction} outputs from Python"))?;
            let mut outs = Vec::new();
            for o in list {
                let name = o["name"].as_str().ok_or("an output without a name")?.to_owned();
                if let Some(error) = o.get("error").and_then(Value::as_str) {
                    outs.push(Output { name, shape: Vec::new(), values: Vec::new(), error: Some(error.to_owned()) });
                    continue;
                }
                let shape: Vec<i64> = o["shape"]
                    .as_array()
                    .ok_or("an output without a shape")?
                    .iter()
                    .filter_map(Value::as_i64)
                    .collect();
                let values = o["data"]
                    .as_array()
                    .ok_or("an output without data")?
                    .iter()
                    .map(number)
                    .collect::<Result<_, _>>()?;
                outs.push(Output { name, shape, values, error: None });
            }
            Ok(outs)
        };
        outputs.push((reduction.to_owned(), recorded));
    }
    Ok(Response { versions, outputs })
}
