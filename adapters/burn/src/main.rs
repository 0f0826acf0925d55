//! burn 0.22.1 (Flex CPU backend, autodiff) answering tch-parity's conformance protocol: one
//! JSON request per line on standard input, one answer per line on standard output (the
//! protocol is documented in tch-parity's `src/conformance/worker.rs`).
//!
//! Every loss in burn-nn that has a PyTorch counterpart, burn's `sigmoid`, `softmax` and
//! `log_softmax`, and burn-optim's SGD, Adam, AdamW, RMSprop, AdaGrad, Adafactor and Muon. What
//! burn's API cannot
//! express is answered `unsupported`, with the reason; a panic inside burn is a rejection with
//! its message.

mod losses;
mod optimizers;
mod tensors;

use serde_json::{json, Value};
use std::io::{BufRead, Write};

/// What an answer is: a value, a rejection, or unsupported with a reason.
pub enum Answer {
    Value(Value),
    Rejects(String),
    Unsupported(String),
}

impl Answer {
    fn json(self) -> Value {
        match self {
            Answer::Value(v) => json!({ "value": v }),
            Answer::Rejects(m) => json!({ "rejects": m }),
            Answer::Unsupported(why) => json!({ "unsupported": why }),
        }
    }
}

/// `Answer::Unsupported` with a reason, from anywhere in a handler.
#[macro_export]
macro_rules! unsupported {
    ($($arg:tt)*) => {
        return Ok($crate::Answer::Unsupported(format!($($arg)*)))
    };
}

/// The device every tensor is made on: Flex, its default float dtype set to the one this
/// process computes in (`--dtype`), as a burn user training in that dtype configures it, so
/// that the tensors burn creates itself (a cast of integer targets, class weights) have it too.
static DEVICE: std::sync::OnceLock<burn::tensor::Device> = std::sync::OnceLock::new();

pub fn device() -> burn::tensor::Device {
    DEVICE.get().expect("set in main").clone()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dtype =
        args.iter().position(|a| a == "--dtype").and_then(|i| args.get(i + 1)).map_or("float32", String::as_str);
    let float_dtype = match dtype {
        "float64" => burn::tensor::FloatDType::F64,
        "float16" => burn::tensor::FloatDType::F16,
        "bfloat16" => burn::tensor::FloatDType::BF16,
        _ => burn::tensor::FloatDType::F32,
    };
    let mut device = burn::tensor::Device::flex();
    if let Err(e) = device.configure(float_dtype) {
        eprintln!("tch-parity-burn: cannot compute in {dtype}: {e:?}");
        std::process::exit(2);
    }
    DEVICE.set(device).expect("set once");
    // burn reports bad input by panicking (its asserts); each panic becomes that request's
    // rejection, and the default hook's message on standard error would only be noise.
    std::panic::set_hook(Box::new(|_| {}));
    let mut optimizers = optimizers::Optimizers::default();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(request) => handle(&request, &mut optimizers),
            Err(e) => Answer::Rejects(format!("not JSON: {e}")),
        };
        if writeln!(stdout, "{}", answer.json()).and_then(|()| stdout.flush()).is_err() {
            break;
        }
    }
}

fn handle(request: &Value, optimizers: &mut optimizers::Optimizers) -> Answer {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<Answer, String> {
        if request.get("hello").is_some() {
            return Ok(Answer::Value(json!({ "title": "burn 0.22.1 (Flex backend, autodiff)" })));
        }
        if let Some(loss) = request.get("loss") {
            return losses::loss(loss);
        }
        if let Some(r) = request.get("optimizer") {
            return optimizers.create(r);
        }
        if let Some(r) = request.get("step") {
            return optimizers.step(r);
        }
        if let Some(r) = request.get("set_lr") {
            return optimizers.set_lr(r);
        }
        if let Some(r) = request.get("drop") {
            return optimizers.drop(r);
        }
        Ok(Answer::Unsupported(format!("unknown request {request}")))
    }));
    match run {
        Ok(Ok(answer)) => answer,
        Ok(Err(message)) => Answer::Rejects(message),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            // burn asserts its preconditions: its refusal of an input, not a crash of the adapter.
            Answer::Rejects(format!("burn asserts: {message}"))
        }
    }
}
