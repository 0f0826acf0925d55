//! Checkpoints in PyTorch's `state_dict()` layout, as safetensors files: an optimizer's state
//! (every buffer, the step counts, every group's hyperparameters), its scheduler's, and
//! optionally the parameters, so that a run stopped at step k goes on exactly where it was, in
//! Rust or in PyTorch (`scripts/torch_checkpoint.py` reads and writes the same files).
//!
//! The file (README "Checkpoint layout"):
//! - tensors `state.<i>.<key>`: parameter i's state tensor `key` (i counts the parameters
//!   through the groups in order, as torch does); `state.<i>.<key>.<j>`: element j of a list
//!   of tensors (LBFGS's `old_dirs`); `params.<i>`: parameter i's value, when saved;
//! - metadata `format` (`tch-parity-checkpoint/1`), `optimizer` (torch's class, "Adam"),
//!   `param_groups` (torch's `param_groups` as JSON: each group's hyperparameters under
//!   torch's names, its `params` indices, `initial_lr`), `state` (JSON: for every parameter
//!   with state, its values that are not tensors: numbers, `null` for None, `{"tensors": n}`
//!   for a list); `scheduler` and `scheduler_class` (torch's scheduler `state_dict()` as JSON,
//!   with its attribute names), when there is one.
//!
//! Non-finite floats in the JSON are the strings "inf", "-inf" and "NaN".
//!
//! Loading checks everything before changing anything: the optimizer's class, the number of
//! groups and of parameters in each, every buffer's presence, shape and dtype, nothing left
//! over. An error names what does not match and leaves the optimizer as it was.

use super::lr_scheduler::{LrScheduler, ReduceLROnPlateau};
use crate::error::{invalid, Error, Result};
use crate::optim::lbfgs::LbfgsState;
use crate::optim::{Hyperparameters, Lbfgs, LbfgsOptions, Optimizer, Rule, SavedBuffers};
use crate::options::{OptionValue, Options};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use tch::{Kind, Tensor};

/// The format tag of a checkpoint's metadata.
pub const FORMAT: &str = "tch-parity-checkpoint/1";

/// One value of a parameter's optimizer state.
#[derive(Debug)]
pub enum StateValue {
    Tensor(Tensor),
    /// A list of tensors (LBFGS's curvature pairs); `None` for an empty slot (LBFGS's `al`).
    Tensors(Vec<Option<Tensor>>),
    Int(i64),
    Float(f64),
    /// Python's None (SGD's momentum buffer before any step with momentum).
    None,
}

/// An optimizer's `state_dict()`: its class, its groups and every parameter's state.
#[derive(Debug, Default)]
pub struct OptimizerState {
    /// torch.optim's class name ("Adam").
    pub optimizer: String,
    /// Each group's hyperparameters under torch's names, with `params` (indices).
    pub param_groups: Vec<Map<String, Value>>,
    /// By parameter index (through the groups in order): each state value by torch's name.
    pub state: BTreeMap<usize, Vec<(String, StateValue)>>,
}

/// A scheduler's `state_dict()`: torch's class name and its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerStateDict {
    pub class: String,
    pub state: Value,
}

/// Everything a training run needs to go on: the optimizer's and scheduler's state, and the
/// parameters.
#[derive(Debug, Default)]
pub struct Checkpoint {
    pub optimizer: OptimizerState,
    pub scheduler: Option<SchedulerStateDict>,
    /// The parameters' values, in the optimizer's order (empty when not saved).
    pub params: Vec<Tensor>,
}

/// An optimizer whose state a checkpoint holds.
pub trait Stateful {
    /// Its state in PyTorch's layout (tensors are copies).
    fn state_dict(&self) -> Result<OptimizerState>;
    /// Restores a state; on error (another optimizer, other parameters, a missing or extra
    /// buffer, a wrong dtype or shape) it is left unchanged.
    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()>;
    /// Its parameters, in order.
    fn parameters(&self) -> Vec<Tensor>;
}

impl Checkpoint {
    /// The optimizer's state, and the scheduler's if given, and the parameters' values.
    pub fn of(optimizer: &dyn Stateful, scheduler: Option<&dyn SchedulerState>) -> Result<Checkpoint> {
        let params: Vec<Tensor> =
            optimizer.parameters().iter().map(|p| p.f_detach_copy()).collect::<std::result::Result<_, _>>()?;
        Ok(Checkpoint {
            optimizer: optimizer.state_dict()?,
            scheduler: scheduler.map(SchedulerState::state_dict),
            params,
        })
    }

    /// Restores the optimizer, the scheduler and (when saved) the parameters. The parameters'
    /// shapes and the scheduler's class are checked first, then the optimizer's whole state
    /// before it changes, then the scheduler's.
    pub fn restore(&self, optimizer: &mut dyn Stateful, scheduler: Option<&mut dyn SchedulerState>) -> Result<()> {
        let params = optimizer.parameters();
        if !self.params.is_empty() {
            if self.params.len() != params.len() {
                return invalid!("the checkpoint has {} parameters, the optimizer {}", self.params.len(), params.len());
            }
            for (i, (saved, p)) in self.params.iter().zip(&params).enumerate() {
                if saved.size() != p.size() || saved.kind() != p.kind() {
                    return invalid!(
                        "parameter {i} is {:?} {:?} in the checkpoint, {:?} {:?} here",
                        saved.kind(),
                        saved.size(),
                        p.kind(),
                        p.size()
                    );
                }
            }
        }
        match (&self.scheduler, &scheduler) {
            (Some(s), Some(mine)) if s.class != mine.class() => {
                return invalid!("the checkpoint's scheduler is {}, not {}", s.class, mine.class())
            }
            (None, Some(mine)) => return invalid!("the checkpoint has no scheduler for the {}", mine.class()),
            _ => {}
        }
        optimizer.load_state_dict(&self.optimizer)?;
        if let (Some(s), Some(mine)) = (&self.scheduler, scheduler) {
            mine.load_state_dict(&s.state)?;
        }
        tch::no_grad(|| {
            for (p, saved) in params.iter().zip(&self.params) {
                p.shallow_clone().f_copy_(saved)?;
            }
            Ok(())
        })
    }

    /// The safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        let mut plain = Map::new();
        for (i, values) in &self.optimizer.state {
            let mut entry = Map::new();
            for (key, value) in values {
                match value {
                    StateValue::Tensor(t) => tensors.push((format!("state.{i}.{key}"), t.shallow_clone())),
                    StateValue::Tensors(list) => {
                        let none: Vec<usize> = (0..list.len()).filter(|&j| list[j].is_none()).collect();
                        for (j, t) in list.iter().enumerate() {
                            if let Some(t) = t {
                                tensors.push((format!("state.{i}.{key}.{j}"), t.shallow_clone()));
                            }
                        }
                        entry.insert(key.clone(), json!({"tensors": list.len(), "none": none}));
                    }
                    StateValue::Int(n) => {
                        entry.insert(key.clone(), json!(n));
                    }
                    StateValue::Float(x) => {
                        entry.insert(key.clone(), float_json(*x));
                    }
                    StateValue::None => {
                        entry.insert(key.clone(), Value::Null);
                    }
                }
            }
            plain.insert(i.to_string(), Value::Object(entry));
        }
        for (i, p) in self.params.iter().enumerate() {
            tensors.push((format!("params.{i}"), p.shallow_clone()));
        }
        let mut metadata = HashMap::new();
        metadata.insert("format".to_owned(), FORMAT.to_owned());
        metadata.insert("optimizer".to_owned(), self.optimizer.optimizer.clone());
        let groups: Vec<Value> = self.optimizer.param_groups.iter().cloned().map(Value::Object).collect();
        metadata.insert("param_groups".to_owned(), Value::Array(groups).to_string());
        metadata.insert("state".to_owned(), Value::Object(plain).to_string());
        if let Some(s) = &self.scheduler {
            metadata.insert("scheduler_class".to_owned(), s.class.clone());
            metadata.insert("scheduler".to_owned(), s.state.to_string());
        }
        let views =
            tensors.iter().map(|(name, t)| Ok((name.clone(), RawTensor::of(t)?))).collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, &Some(metadata)).map_err(|e| Error::InvalidArgument(format!("safetensors: {e}")))
    }

    /// Reads a checkpoint from safetensors bytes, checking its layout.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint> {
        let corrupt =
            |e: safetensors::SafeTensorError| Error::InvalidArgument(format!("not a safetensors file: {e:?}"));
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(corrupt)?;
        let file = safetensors::SafeTensors::deserialize(bytes).map_err(corrupt)?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let text =
            |key: &str| metadata.get(key).ok_or_else(|| Error::InvalidArgument(format!("no \"{key}\" metadata")));
        if text("format")? != FORMAT {
            return invalid!("format {:?}, expected {FORMAT}", text("format")?);
        }
        let json = |key: &str| -> Result<Value> {
            serde_json::from_str(text(key)?).map_err(|e| Error::InvalidArgument(format!("metadata {key}: {e}")))
        };
        let param_groups = match json("param_groups")? {
            Value::Array(groups) => groups
                .into_iter()
                .map(|g| match g {
                    Value::Object(m) => Ok(m),
                    _ => invalid!("a parameter group is not an object"),
                })
                .collect::<Result<Vec<_>>>()?,
            _ => return invalid!("param_groups is not a list"),
        };
        let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();
        for (name, view) in file.tensors() {
            tensors.insert(name, tensor_of(&view)?);
        }
        let mut state: BTreeMap<usize, Vec<(String, StateValue)>> = BTreeMap::new();
        let plain = match json("state")? {
            Value::Object(m) => m,
            _ => return invalid!("state is not an object"),
        };
        for (i, values) in plain {
            let i: usize = i.parse().map_err(|_| Error::InvalidArgument(format!("state index {i:?}")))?;
            let mut entry = Vec::new();
            for (key, v) in values.as_object().ok_or_else(|| Error::InvalidArgument(format!("state {i}")))? {
                let value = match v {
                    Value::Null => StateValue::None,
                    Value::Number(n) if n.is_i64() => StateValue::Int(n.as_i64().expect("i64")),
                    Value::Object(list) => {
                        let n = list.get("tensors").and_then(Value::as_u64).unwrap_or(0) as usize;
                        let mut items = Vec::with_capacity(n);
                        for j in 0..n {
                            items.push(tensors.remove(&format!("state.{i}.{key}.{j}")));
                        }
                        StateValue::Tensors(items)
                    }
                    other => StateValue::Float(float_of(other)?),
                };
                entry.push((key.clone(), value));
            }
            state.insert(i, entry);
        }
        let mut params = Vec::new();
        while let Some(t) = tensors.remove(&format!("params.{}", params.len())) {
            params.push(t);
        }
        // The tensors left are state tensors: state.<i>.<key>.
        for (name, t) in tensors {
            let parsed = name.strip_prefix("state.").and_then(|rest| rest.split_once('.'));
            let Some((i, key)) = parsed.and_then(|(i, key)| Some((i.parse::<usize>().ok()?, key))) else {
                return invalid!("unexpected tensor {name:?}");
            };
            state.entry(i).or_default().push((key.to_owned(), StateValue::Tensor(t)));
        }
        let scheduler = match metadata.get("scheduler_class") {
            Some(class) => Some(SchedulerStateDict { class: class.clone(), state: json("scheduler")? }),
            None => None,
        };
        Ok(Checkpoint {
            optimizer: OptimizerState { optimizer: text("optimizer")?.clone(), param_groups, state },
            scheduler,
            params,
        })
    }

    /// Writes the file atomically: a temporary file beside it, flushed, then renamed over it, so
    /// that a crash mid-save leaves the old checkpoint.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let io = |e: std::io::Error| Error::InvalidArgument(format!("{}: {e}", path.display()));
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))?;
        Checkpoint::from_bytes(&bytes)
    }
}

/// A tensor's bytes as safetensors takes them.
struct RawTensor {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl RawTensor {
    fn of(t: &Tensor) -> Result<RawTensor> {
        let dtype = match t.kind() {
            Kind::Float => safetensors::Dtype::F32,
            Kind::Double => safetensors::Dtype::F64,
            Kind::Half => safetensors::Dtype::F16,
            Kind::BFloat16 => safetensors::Dtype::BF16,
            Kind::Int64 => safetensors::Dtype::I64,
            Kind::Int => safetensors::Dtype::I32,
            Kind::Bool => safetensors::Dtype::BOOL,
            other => return invalid!("a {other:?} tensor cannot be saved"),
        };
        let t = t.f_to_device(tch::Device::Cpu)?.f_contiguous()?;
        let n = t.numel();
        let mut data = vec![0u8; n * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut data, n)?;
        Ok(RawTensor { dtype, shape: t.size().iter().map(|&d| d as usize).collect(), data })
    }
}

impl safetensors::View for RawTensor {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn tensor_of(view: &safetensors::tensor::TensorView) -> Result<Tensor> {
    let kind = match view.dtype() {
        safetensors::Dtype::F32 => Kind::Float,
        safetensors::Dtype::F64 => Kind::Double,
        safetensors::Dtype::F16 => Kind::Half,
        safetensors::Dtype::BF16 => Kind::BFloat16,
        safetensors::Dtype::I64 => Kind::Int64,
        safetensors::Dtype::I32 => Kind::Int,
        safetensors::Dtype::BOOL => Kind::Bool,
        other => return invalid!("a {other:?} tensor cannot be loaded"),
    };
    let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
    Ok(Tensor::f_from_data_size(view.data(), &shape, kind)?)
}

/// A float in the metadata's JSON: a number, or "inf", "-inf", "NaN".
pub fn float_json(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(x)
    }
}

pub fn float_of(v: &Value) -> Result<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| Error::InvalidArgument(format!("{n} is not a float"))),
        Value::String(s) if s == "inf" => Ok(f64::INFINITY),
        Value::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        other => invalid!("{other} is not a number"),
    }
}

/// torch's name of a pair of this library's options (torch takes tuples).
const PAIRS: &[(&str, &str, &str)] = &[
    ("betas", "beta1", "beta2"),
    ("etas", "etaminus", "etaplus"),
    ("step_sizes", "step_size_min", "step_size_max"),
    ("eps", "eps1", "eps2"),
];

/// Keys of torch's groups that are not hyperparameters of the update: implementation choices,
/// and what schedulers keep there (restored by the scheduler's own state).
const IGNORED_KEYS: &[&str] = &[
    "params",
    "param_names",
    "foreach",
    "fused",
    "capturable",
    "differentiable",
    "initial_lr",
    "max_lr",
    "min_lr",
    "max_momentum",
    "base_momentum",
];

fn option_json(v: OptionValue) -> Value {
    match v {
        OptionValue::Bool(b) => json!(b),
        OptionValue::Int(i) => json!(i),
        OptionValue::Float(x) => float_json(x),
        OptionValue::None => Value::Null,
    }
}

/// A group's hyperparameters under torch's names: pairs become torch's tuples, Muon's
/// `ns_a`/`ns_b`/`ns_c` its `ns_coefficients`, LBFGS's `strong_wolfe` its `line_search_fn`.
pub fn torch_group<O: Options>(options: &O) -> Map<String, Value> {
    let values = options.values();
    let get = |name: &str| values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let mut group = Map::new();
    for &(name, value) in &values {
        if let Some(&(torch, first, second)) = PAIRS.iter().find(|(_, a, b)| *a == name || *b == name) {
            if name == first {
                let pair = [get(first), get(second)].map(|v| v.map_or(Value::Null, option_json));
                group.insert(torch.to_owned(), Value::Array(pair.to_vec()));
            }
            continue;
        }
        match name {
            "ns_a" => {
                let c = ["ns_a", "ns_b", "ns_c"].map(|n| get(n).map_or(Value::Null, option_json));
                group.insert("ns_coefficients".into(), Value::Array(c.to_vec()));
            }
            "ns_b" | "ns_c" => {}
            "match_rms_adamw" => {
                let f = if value == OptionValue::Bool(true) { json!("match_rms_adamw") } else { Value::Null };
                group.insert("adjust_lr_fn".into(), f);
            }
            "strong_wolfe" => {
                let f = if value == OptionValue::Bool(true) { json!("strong_wolfe") } else { Value::Null };
                group.insert("line_search_fn".into(), f);
            }
            _ => {
                group.insert(name.to_owned(), option_json(value));
            }
        }
    }
    group
}

/// The options of a torch group, starting from `current` (a hyperparameter the group lacks keeps
/// its value); a key that is neither a hyperparameter of `O` nor an implementation choice of
/// torch's is an error.
pub fn options_of_group<O: Options>(current: &O, group: &Map<String, Value>) -> Result<O> {
    let mut options = current.clone();
    let specs = O::specs();
    let set = |options: &mut O, name: &str, v: &Value| -> Result<()> {
        let Some(spec) = specs.iter().find(|s| s.name == name) else {
            return invalid!("unknown hyperparameter {name}");
        };
        let value = match (spec.default, v) {
            (_, Value::Null) => OptionValue::None,
            (OptionValue::Bool(_), Value::Bool(b)) => OptionValue::Bool(*b),
            (OptionValue::Int(_), Value::Number(n)) if n.is_i64() => OptionValue::Int(n.as_i64().expect("i64")),
            (OptionValue::Int(_) | OptionValue::None, Value::Number(n)) if n.is_i64() && spec.name != "eps1" => {
                OptionValue::Int(n.as_i64().expect("i64"))
            }
            (_, other) => OptionValue::Float(float_of(other)?),
        };
        options.set(name, value).map_err(Error::InvalidArgument)
    };
    for (key, v) in group {
        if IGNORED_KEYS.contains(&key.as_str()) {
            continue;
        }
        if let Some(&(_, first, second)) =
            PAIRS.iter().find(|(torch, a, _)| torch == key && specs.iter().any(|s| s.name == *a))
        {
            match v.as_array().map(Vec::as_slice) {
                Some([a, b]) => {
                    set(&mut options, first, a)?;
                    set(&mut options, second, b)?;
                }
                _ => return invalid!("{key} is not a pair"),
            }
            continue;
        }
        match key.as_str() {
            "ns_coefficients" => match v.as_array().map(Vec::as_slice) {
                Some([a, b, c]) => {
                    set(&mut options, "ns_a", a)?;
                    set(&mut options, "ns_b", b)?;
                    set(&mut options, "ns_c", c)?;
                }
                _ => return invalid!("ns_coefficients is not a triple"),
            },
            "adjust_lr_fn" => set(&mut options, "match_rms_adamw", &json!(v == "match_rms_adamw"))?,
            "line_search_fn" => set(&mut options, "strong_wolfe", &json!(v == "strong_wolfe"))?,
            // AdamW is Adam with it always on (torch keeps the flag in AdamW's groups too).
            "decoupled_weight_decay" if !specs.iter().any(|s| s.name == "decoupled_weight_decay") => {}
            _ => set(&mut options, key, v)?,
        }
    }
    Ok(options)
}

/// Checks the groups' sizes against torch's `load_state_dict` rules.
fn check_groups(class: &str, state: &OptimizerState, sizes: &[usize]) -> Result<()> {
    if state.optimizer != class {
        return invalid!("the checkpoint is for {}, not {class}", state.optimizer);
    }
    if state.param_groups.len() != sizes.len() {
        return invalid!(
            "loaded state dict has {} parameter groups, the optimizer {}",
            state.param_groups.len(),
            sizes.len()
        );
    }
    for (g, (group, &n)) in state.param_groups.iter().zip(sizes).enumerate() {
        let count = group.get("params").and_then(Value::as_array).map_or(0, Vec::len);
        if count != n {
            return invalid!("loaded state dict's group {g} has {count} parameters, the optimizer's {n}");
        }
    }
    let total: usize = sizes.iter().sum();
    if let Some((&i, _)) = state.state.iter().next_back().filter(|(&i, _)| i >= total) {
        return invalid!("the checkpoint has state for parameter {i}, the optimizer has {total} parameters");
    }
    Ok(())
}

fn group_json<O: Options>(options: &O, initial_lr: Option<f64>, params: std::ops::Range<usize>) -> Map<String, Value> {
    let mut group = torch_group(options);
    if let Some(lr) = initial_lr {
        group.insert("initial_lr".into(), float_json(lr));
    }
    group.insert("params".into(), json!(params.collect::<Vec<_>>()));
    group
}

fn initial_lr_of(group: &Map<String, Value>) -> Result<Option<f64>> {
    group.get("initial_lr").map(float_of).transpose()
}

impl<R: Rule> Stateful for Optimizer<R>
where
    R::Options: Options,
{
    fn state_dict(&self) -> Result<OptimizerState> {
        let mut out = OptimizerState { optimizer: R::TORCH_NAME.to_owned(), ..Default::default() };
        let mut index = 0;
        for (g, group) in self.groups().iter().enumerate() {
            let n = group.params.len();
            out.param_groups.push(group_json(&group.options, self.initial_lr(g), index..index + n));
            for k in 0..n {
                if let Some(state) = self.param_state(g, k) {
                    let mut values = Vec::new();
                    for (name, t) in R::buffers(state) {
                        let value = match (name, R::STEP_IS_INT) {
                            ("step", true) => StateValue::Int(t.f_int64_value(&[])?),
                            // torch.optim keeps the step as a float32 scalar tensor.
                            ("step", false) => StateValue::Tensor(t.f_to_kind(Kind::Float)?),
                            _ => StateValue::Tensor(t.f_detach_copy()?),
                        };
                        values.push((name.to_owned(), value));
                    }
                    for &name in R::NONE_UNTIL_CREATED {
                        if !values.iter().any(|(n, _)| n == name) {
                            values.push((name.to_owned(), StateValue::None));
                        }
                    }
                    out.state.insert(index + k, values);
                }
            }
            index += n;
        }
        Ok(out)
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        let sizes: Vec<usize> = self.groups().iter().map(|g| g.params.len()).collect();
        check_groups(R::TORCH_NAME, state, &sizes)?;
        let mut options = Vec::new();
        let mut initial_lrs = Vec::new();
        let mut states = Vec::new();
        let mut index = 0;
        for (group, saved) in self.groups().iter().zip(&state.param_groups) {
            let o = options_of_group(&group.options, saved)?;
            Hyperparameters::validate(&o)?;
            initial_lrs.push(initial_lr_of(saved)?);
            let mut group_states = Vec::new();
            for param in &group.params {
                group_states.push(match state.state.get(&index) {
                    None => None,
                    Some(values) => {
                        let mut tensors = Vec::new();
                        for (name, value) in values {
                            match value {
                                StateValue::Tensor(t) => tensors.push((name.clone(), t.f_detach_copy()?)),
                                StateValue::Int(n) => tensors.push((name.clone(), Tensor::from(*n))),
                                StateValue::Float(x) => tensors.push((name.clone(), Tensor::from(*x))),
                                StateValue::None => {}
                                StateValue::Tensors(_) => {
                                    return invalid!(
                                        "state {index}'s {name} is a list, which {} has not",
                                        R::TORCH_NAME
                                    )
                                }
                            }
                        }
                        let mut saved = SavedBuffers::new(index, param, tensors);
                        let restored = R::restore(param, &o, &mut saved)?;
                        saved.finish()?;
                        Some(restored)
                    }
                });
                index += 1;
            }
            options.push(o);
            states.push(group_states);
        }
        self.restore(options, states, initial_lrs)
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.groups().iter().flat_map(|g| g.params.iter().map(Tensor::shallow_clone)).collect()
    }
}

impl Stateful for Lbfgs {
    fn state_dict(&self) -> Result<OptimizerState> {
        let n = self.params().len();
        let mut out = OptimizerState { optimizer: "LBFGS".into(), ..Default::default() };
        let mut group = group_json(self.options(), self.initial_lr(), 0..n);
        // torch.optim's groups hold max_eval's value, never None.
        group.insert("max_eval".into(), json!(self.options().max_evaluations()));
        out.param_groups.push(group);
        let s = self.state();
        // torch.optim keeps LBFGS's state on its first parameter, from its first step.
        if s.func_evals > 0 {
            let copy = |t: &Tensor| t.f_detach_copy().map_err(Error::from);
            let list = |ts: &mut dyn Iterator<Item = &Tensor>| -> Result<StateValue> {
                Ok(StateValue::Tensors(ts.map(|t| copy(t).map(Some)).collect::<Result<_>>()?))
            };
            let mut values = vec![
                ("func_evals".to_owned(), StateValue::Int(s.func_evals)),
                ("n_iter".to_owned(), StateValue::Int(s.n_iter)),
                ("t".to_owned(), StateValue::Float(s.t)),
                ("prev_loss".to_owned(), StateValue::Float(s.prev_loss)),
            ];
            for (name, t) in [("d", &s.d), ("H_diag", &s.h_diag), ("prev_flat_grad", &s.prev_flat_grad)] {
                if let Some(t) = t {
                    values.push((name.to_owned(), StateValue::Tensor(copy(t)?)));
                }
            }
            values.push(("old_dirs".to_owned(), list(&mut s.old_dirs.iter())?));
            values.push(("old_stps".to_owned(), list(&mut s.old_stps.iter())?));
            values.push(("ro".to_owned(), list(&mut s.ro.iter())?));
            let al = s.al.iter().map(|t| t.as_ref().map(copy).transpose()).collect::<Result<_>>()?;
            values.push(("al".to_owned(), StateValue::Tensors(al)));
            out.state.insert(0, values);
        }
        Ok(out)
    }

    fn load_state_dict(&mut self, state: &OptimizerState) -> Result<()> {
        check_groups("LBFGS", state, &[self.params().len()])?;
        let options: LbfgsOptions = options_of_group(self.options(), &state.param_groups[0])?;
        let initial_lr = initial_lr_of(&state.param_groups[0])?;
        let mut restored = LbfgsState::default();
        if let Some(values) = state.state.get(&0) {
            let flat: i64 = self.params().iter().map(|p| p.numel() as i64).sum();
            let kind = self.params()[0].kind();
            for (name, value) in values {
                let vector = |t: &Tensor| -> Result<Tensor> {
                    if t.size() != [flat] || t.kind() != kind {
                        return invalid!("LBFGS's {name} is {:?} {:?}, expected {kind:?} [{flat}]", t.kind(), t.size());
                    }
                    Ok(t.f_detach_copy()?)
                };
                let list = |v: &StateValue, scalar: bool| -> Result<Vec<Option<Tensor>>> {
                    let StateValue::Tensors(items) = v else { return invalid!("LBFGS's {name} is not a list") };
                    items
                        .iter()
                        .map(|t| match t {
                            None => Ok(None),
                            Some(t) if scalar => Ok(Some(t.f_detach_copy()?)),
                            Some(t) => vector(t).map(Some),
                        })
                        .collect()
                };
                let number = |v: &StateValue| -> Result<f64> {
                    match v {
                        StateValue::Int(n) => Ok(*n as f64),
                        StateValue::Float(x) => Ok(*x),
                        StateValue::Tensor(t) if t.numel() == 1 => Ok(t.f_double_value(&[])?),
                        _ => invalid!("LBFGS's {name} is not a number"),
                    }
                };
                match (name.as_str(), value) {
                    ("func_evals", v) => restored.func_evals = number(v)? as i64,
                    ("n_iter", v) => restored.n_iter = number(v)? as i64,
                    ("t", v) => restored.t = number(v)?,
                    ("prev_loss", v) => restored.prev_loss = number(v)?,
                    ("d", StateValue::Tensor(t)) => restored.d = Some(vector(t)?),
                    ("prev_flat_grad", StateValue::Tensor(t)) => restored.prev_flat_grad = Some(vector(t)?),
                    ("H_diag", StateValue::Tensor(t)) => restored.h_diag = Some(t.f_detach_copy()?),
                    ("old_dirs", v) => restored.old_dirs = list(v, false)?.into_iter().flatten().collect(),
                    ("old_stps", v) => restored.old_stps = list(v, false)?.into_iter().flatten().collect(),
                    ("ro", v) => restored.ro = list(v, true)?.into_iter().flatten().collect(),
                    ("al", v) => restored.al = list(v, true)?,
                    (other, _) => return invalid!("LBFGS has no state {other}"),
                }
            }
        }
        self.restore(options, restored, initial_lr)
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.params().iter().map(Tensor::shallow_clone).collect()
    }
}

/// A scheduler whose state a checkpoint holds, in torch's attribute names.
pub trait SchedulerState {
    /// torch's class name ("StepLR").
    fn class(&self) -> &'static str;
    fn state_dict(&self) -> SchedulerStateDict;
    /// Restores what changes as it steps (epochs, counters, rates); the options stay as built.
    fn load_state_dict(&mut self, state: &Value) -> Result<()>;
}

impl<S: LrScheduler> SchedulerState for S {
    fn class(&self) -> &'static str {
        self.torch_name()
    }
    fn state_dict(&self) -> SchedulerStateDict {
        SchedulerStateDict { class: self.class().to_owned(), state: LrScheduler::state_dict(self) }
    }
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        LrScheduler::load_state_dict(self, state)
    }
}

impl SchedulerState for Box<dyn LrScheduler> {
    fn class(&self) -> &'static str {
        self.as_ref().torch_name()
    }
    fn state_dict(&self) -> SchedulerStateDict {
        SchedulerStateDict { class: self.class().to_owned(), state: self.as_ref().state_dict() }
    }
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        self.as_mut().load_state_dict(state)
    }
}

impl SchedulerState for ReduceLROnPlateau {
    fn class(&self) -> &'static str {
        "ReduceLROnPlateau"
    }
    fn state_dict(&self) -> SchedulerStateDict {
        SchedulerStateDict { class: self.class().to_owned(), state: ReduceLROnPlateau::state_dict(self) }
    }
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        ReduceLROnPlateau::load_state_dict(self, state)
    }
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
