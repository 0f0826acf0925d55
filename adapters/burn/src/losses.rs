//! Losses: a protocol request computed with burn-nn's loss (or burn's activation), forward and
//! backward, on the Flex backend with autodiff.

use crate::tensors::{as_2d, burn_dtype, float_tensor, host_json, int_tensor, Host};
use crate::{unsupported, Answer};
use burn::nn::loss::{
    BinaryCrossEntropyLossConfig, CTCLossConfig, CosineEmbeddingLossConfig, CrossEntropyLossConfig,
    GaussianNLLLossConfig, HingeEmbeddingLossConfig, HuberLossConfig, KLDivLossConfig, LpLossConfig,
    MarginRankingLossConfig, MseLoss, MultiMarginLossConfig, PoissonNllLossConfig, Reduction, SmoothL1LossConfig,
    SoftMarginLoss, TripletMarginLossConfig,
};
use burn::tensor::Gradients;
use burn::tensor::{activation, Device, Tensor, TensorCreationOptions, TensorData};
use serde_json::{json, Map, Value};

type Leaf = (String, Box<dyn Fn(&Gradients) -> Option<Value>>, Vec<usize>);

/// One loss request: its inputs, options, and the leaves whose gradients are wanted.
struct Case {
    op: String,
    reduction: String,
    dtype: String,
    options: Value,
    inputs: Vec<(String, Host, bool)>,
    device: Device,
    leaves: Vec<Leaf>,
}

impl Case {
    fn host(&self, name: &str) -> Option<&Host> {
        self.inputs.iter().find(|(n, _, _)| n == name).map(|(_, h, _)| h)
    }

    fn wants_grad(&self, name: &str) -> bool {
        self.inputs.iter().any(|(n, _, g)| n == name && *g)
    }

    fn shape(&self, name: &str) -> Vec<usize> {
        self.host(name).map(|h| h.shape.clone()).unwrap_or_default()
    }

    fn f64(&self, name: &str) -> Option<f64> {
        self.options.get(name).and_then(Value::as_f64)
    }

    fn bool(&self, name: &str) -> bool {
        self.options.get(name).and_then(Value::as_bool) == Some(true)
    }

    fn i64(&self, name: &str) -> Option<i64> {
        self.options.get(name).and_then(Value::as_i64)
    }

    /// burn's reduction of a reduced call.
    fn reduction(&self) -> Reduction {
        match self.reduction.as_str() {
            "sum" => Reduction::Sum,
            _ if self.bool("batchmean") => Reduction::BatchMean,
            _ => Reduction::Mean,
        }
    }

    fn reduces(&self) -> bool {
        self.reduction != "none"
    }

    /// Input `name` as a float tensor of `shape`, tracked by autodiff when its gradient is
    /// wanted.
    fn float<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Result<Tensor<D>, String> {
        let host = self.host(name).ok_or_else(|| format!("no input {name}"))?.clone();
        if !host.is_float() {
            return Err(format!("{name} is not a float tensor"));
        }
        let t = float_tensor(&host, shape, &self.device)?;
        if !self.wants_grad(name) {
            return Ok(t);
        }
        let t = t.require_grad();
        let leaf = t.clone();
        let original = host.shape.clone();
        let read = move |g: &Gradients| leaf.grad(g).map(|grad| host_json(grad, &original));
        self.leaves.push((name.to_owned(), Box::new(read), host.shape.clone()));
        Ok(t)
    }

    /// The call's output (PyTorch's shape `shape`), and the gradients of Σₖ wₖ·outputₖ with
    /// tch-parity's upstream weights wₖ = (k mod 4 + 1)/4 (1 for a reduced output).
    fn finish<const D: usize>(self, out: Tensor<D>, shape: &[usize]) -> Result<Answer, String> {
        let mut grads_json = Map::new();
        if !self.leaves.is_empty() {
            let scalar = if self.reduces() {
                out.clone().sum()
            } else {
                let dims = out.dims();
                let n: usize = dims.iter().product();
                let w: Vec<f64> = (0..n).map(|k| (k % 4 + 1) as f64 / 4.0).collect();
                let dtype = out.dtype();
                let data = TensorData::new(w, dims.to_vec()).convert_dtype(dtype);
                let w = Tensor::<D>::from_data(data, TensorCreationOptions::new(self.device.clone()).with_dtype(dtype));
                (out.clone() * w).sum()
            };
            let grads = scalar.backward();
            for (name, read, input_shape) in &self.leaves {
                // An input the output does not depend on has no gradient in burn: it is 0.
                let grad = read(&grads).unwrap_or_else(|| zeros(input_shape, &self.dtype));
                grads_json.insert(name.clone(), grad);
            }
        }
        Ok(Answer::Value(json!({ "output": host_json(out, shape), "grads": grads_json })))
    }
}

fn zeros(shape: &[usize], dtype: &str) -> Value {
    let n: usize = shape.iter().product();
    json!({ "shape": shape, "dtype": dtype, "data": vec![0.0; n] })
}

/// Dispatches on a tensor's rank (1 to 4), binding the const `D`.
macro_rules! by_rank {
    ($rank:expr, $D:ident => $body:block) => {
        match $rank {
            1 => {
                const $D: usize = 1;
                $body
            }
            2 => {
                const $D: usize = 2;
                $body
            }
            3 => {
                const $D: usize = 3;
                $body
            }
            4 => {
                const $D: usize = 4;
                $body
            }
            r => unsupported!("burn tensors of rank {r} are not handled here"),
        }
    };
}

fn array<const D: usize>(shape: &[usize]) -> [usize; D] {
    shape.try_into().expect("rank checked")
}

pub fn loss(r: &Value) -> Result<Answer, String> {
    let inputs = r["inputs"]
        .as_array()
        .ok_or("no inputs")?
        .iter()
        .map(|i| {
            let name = i["name"].as_str().ok_or("an input without a name")?.to_owned();
            Ok((name, Host::parse(&i["tensor"])?, i["requires_grad"].as_bool() == Some(true)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut case = Case {
        op: r["op"].as_str().ok_or("no op")?.to_owned(),
        reduction: r["reduction"].as_str().unwrap_or("mean").to_owned(),
        dtype: r["dtype"].as_str().ok_or("no dtype")?.to_owned(),
        options: r["options"].clone(),
        inputs,
        device: crate::device().autodiff(),
        leaves: Vec::new(),
    };
    burn_dtype(&case.dtype)?;
    let op = case.op.clone();
    match op.as_str() {
        "sigmoid" | "softmax" | "log_softmax" => activation_op(case),
        "mse_loss"
        | "l1_loss"
        | "huber_loss"
        | "smooth_l1_loss"
        | "soft_margin_loss"
        | "kl_div"
        | "poisson_nll_loss"
        | "hinge_embedding_loss"
        | "gaussian_nll_loss"
        | "margin_ranking_loss" => elementwise(&mut case).and_then(|out| match out {
            Ok((out, shape)) => case.finish(out, &shape),
            Err(answer) => Ok(answer),
        }),
        "binary_cross_entropy" | "binary_cross_entropy_with_logits" => binary_cross_entropy(case),
        "cross_entropy" => cross_entropy(case),
        "multi_margin_loss" => multi_margin(case),
        "cosine_embedding_loss" => cosine_embedding(case),
        "triplet_margin_loss" => triplet_margin(case),
        "ctc_loss" => ctc(case),
        other => unsupported!("burn-nn has no {other}"),
    }
}

fn activation_op(mut case: Case) -> Result<Answer, String> {
    let shape = case.shape("input");
    let rank = shape.len();
    let dim = case.i64("dim").unwrap_or(-1);
    let dim = if dim < 0 { dim + rank as i64 } else { dim };
    if case.op != "sigmoid" && !(0..rank as i64).contains(&dim) {
        unsupported!("dim {dim} of a rank-{rank} input");
    }
    by_rank!(rank, D => {
        let x = case.float::<D>("input", array(&shape))?;
        let out = match case.op.as_str() {
            "sigmoid" => activation::sigmoid(x),
            "softmax" => activation::softmax(x, dim as usize),
            _ => activation::log_softmax(x, dim as usize),
        };
        case.finish(out, &shape)
    })
}

/// The losses that are elementwise in input and target (and var): computed on a 2-d view
/// ([`as_2d`]), the unreduced output given PyTorch's shape. `Err(answer)`: not supported.
type Computed = Result<(Tensor<2>, Vec<usize>), Answer>;

fn elementwise(case: &mut Case) -> Result<Computed, String> {
    let (first, second) = match case.op.as_str() {
        "margin_ranking_loss" => ("input1", "input2"),
        _ => ("input", "target"),
    };
    let shape = case.shape(first);
    let mut names = vec![first, second];
    match case.op.as_str() {
        "margin_ranking_loss" => names.push("target"),
        "gaussian_nll_loss" => names.push("var"),
        _ => {}
    }
    for name in &names {
        if case.shape(name) != shape {
            return Ok(Err(Answer::Unsupported(format!(
                "{name} of shape {:?} beside {first} of shape {shape:?}: burn's losses do not broadcast",
                case.shape(name)
            ))));
        }
    }
    let view = as_2d(&shape);
    let a = case.float::<2>(first, view)?;
    let b = case.float::<2>(second, view)?;
    let reduction = case.reduction();
    let reduces = case.reduces();
    let out = match case.op.as_str() {
        "mse_loss" => {
            let l = MseLoss::new();
            if reduces {
                l.forward(a, b, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b)
            }
        }
        "l1_loss" => {
            let l = LpLossConfig::new(1.0).init();
            if reduces {
                l.forward(a, b, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b)
            }
        }
        "huber_loss" => {
            let l = HuberLossConfig::new(case.f64("delta").unwrap_or(1.0) as f32).init();
            if reduces {
                l.forward(a, b, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b)
            }
        }
        "smooth_l1_loss" => {
            let l = SmoothL1LossConfig::new().with_beta(case.f64("beta").unwrap_or(1.0) as f32).init();
            if reduces {
                l.forward_with_reduction(a, b, reduction).reshape([1, 1])
            } else {
                l.forward(a, b)
            }
        }
        "soft_margin_loss" => {
            let l = SoftMarginLoss::new();
            if reduces {
                l.forward(a, b, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b)
            }
        }
        "kl_div" => {
            let l = KLDivLossConfig::new().with_log_target(case.bool("log_target")).init();
            if reduces {
                l.forward(a, b, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b)
            }
        }
        "poisson_nll_loss" => {
            let l = PoissonNllLossConfig::new()
                .with_log_input(case.bool("log_input"))
                .with_full(case.bool("full"))
                .with_eps(case.f64("eps").unwrap_or(1e-8))
                .init();
            if reduces {
                l.forward(a, b, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b)
            }
        }
        "hinge_embedding_loss" => {
            let l = HingeEmbeddingLossConfig::new().with_margin(case.f64("margin").unwrap_or(1.0)).init();
            if reduces {
                l.forward(a, b, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b)
            }
        }
        "gaussian_nll_loss" => {
            let var = case.float::<2>("var", view)?;
            let l = GaussianNLLLossConfig::new()
                .with_full(case.bool("full"))
                .with_eps(case.f64("eps").unwrap_or(1e-6))
                .init();
            if reduces {
                l.forward(a, b, var, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b, var)
            }
        }
        "margin_ranking_loss" => {
            let y = case.float::<2>("target", view)?;
            let l = MarginRankingLossConfig::new().with_margin(case.f64("margin").unwrap_or(0.0)).init();
            if reduces {
                l.forward(a, b, y, reduction).reshape([1, 1])
            } else {
                l.forward_no_reduction(a, b, y)
            }
        }
        other => return Ok(Err(Answer::Unsupported(format!("burn-nn has no {other}")))),
    };
    let out_shape = if reduces { Vec::new() } else { shape };
    Ok(Ok((out, out_shape)))
}

fn binary_cross_entropy(mut case: Case) -> Result<Answer, String> {
    let logits = case.op == "binary_cross_entropy_with_logits";
    if case.reduction != "mean" {
        unsupported!("burn's binary cross entropy takes the mean only");
    }
    if case.host("pos_weight").is_some() {
        unsupported!("burn's binary cross entropy has no pos_weight");
    }
    let shape = case.shape("input");
    if case.shape("target") != shape {
        unsupported!("burn's binary cross entropy does not broadcast");
    }
    if case.wants_grad("target") {
        unsupported!("burn's binary cross entropy takes integer targets: no gradient with respect to them");
    }
    let target = case.host("target").cloned().ok_or("no target")?;
    let Some(labels) = target.as_ints().filter(|t| t.iter().all(|&x| x == 0 || x == 1)) else {
        unsupported!("burn's binary cross entropy takes integer targets, 0 or 1");
    };
    let mut config = BinaryCrossEntropyLossConfig::new().with_logits(logits);
    if let Some(w) = case.host("weight") {
        // burn's weights are per class, along the last dimension.
        if w.shape.len() != 1 || shape.last() != w.shape.first() || shape.len() < 2 {
            unsupported!("burn's weights are one per class (the last dimension)");
        }
        config = config.with_weights(Some(w.floats.iter().map(|&x| x as f32).collect()));
    }
    let loss = config.init(&case.device);
    by_rank!(shape.len(), D => {
        let x = case.float::<D>("input", array(&shape))?;
        let y = int_tensor::<D>(&labels, array(&shape), &case.device);
        let out = loss.forward(x, y);
        case.finish(out, &[])
    })
}

fn cross_entropy(mut case: Case) -> Result<Answer, String> {
    if case.reduction != "mean" {
        unsupported!("burn's cross entropy takes the mean only");
    }
    let shape = case.shape("input");
    let target = case.host("target").cloned().ok_or("no target")?;
    if shape.len() != 2 || target.shape.len() != 1 || target.is_float() {
        unsupported!("burn's cross entropy takes class indices of a 2-d input");
    }
    let ignore = case.i64("ignore_index").unwrap_or(-100);
    let mut config = CrossEntropyLossConfig::new().with_logits(true);
    if target.ints.contains(&ignore) {
        if ignore < 0 {
            unsupported!("burn's padding tokens are non-negative");
        }
        config = config.with_pad_tokens(Some(vec![ignore as usize]));
    }
    let smoothing = case.f64("label_smoothing").unwrap_or(0.0);
    if smoothing > 0.0 {
        config = config.with_smoothing(Some(smoothing as f32));
    }
    if let Some(w) = case.host("weight") {
        config = config.with_weights(Some(w.floats.iter().map(|&x| x as f32).collect()));
    }
    let loss = config.init(&case.device);
    let x = case.float::<2>("input", array(&shape))?;
    let labels: Vec<i64> = target.ints.clone();
    let y = int_tensor::<1>(&labels, [labels.len()], &case.device);
    let out = loss.forward(x, y);
    case.finish(out, &[])
}

fn multi_margin(mut case: Case) -> Result<Answer, String> {
    if case.host("weight").is_some() {
        unsupported!("burn's multi margin loss has no class weights");
    }
    let shape = case.shape("input");
    let target = case.host("target").cloned().ok_or("no target")?;
    if shape.len() != 2 || target.shape.len() != 1 {
        unsupported!("burn's multi margin loss takes a 2-d input");
    }
    let loss = MultiMarginLossConfig::new()
        .with_margin(case.f64("margin").unwrap_or(1.0))
        .with_p(case.i64("p").unwrap_or(1) as i32)
        .init();
    let x = case.float::<2>("input", array(&shape))?;
    let y = int_tensor::<1>(&target.ints, [target.ints.len()], &case.device);
    if case.reduces() {
        let reduction = case.reduction();
        let out = loss.forward(x, y, reduction);
        case.finish(out, &[])
    } else {
        let out = loss.forward_no_reduction(x, y);
        case.finish(out, &[shape[0]])
    }
}

fn cosine_embedding(mut case: Case) -> Result<Answer, String> {
    let shape = case.shape("input1");
    let target = case.host("target").cloned().ok_or("no target")?;
    if shape.len() != 2 || case.shape("input2") != shape || target.shape.len() != 1 {
        unsupported!("burn's cosine embedding loss takes two 2-d inputs and a 1-d target");
    }
    let Some(labels) = target.as_ints() else { unsupported!("targets that are not ±1") };
    let reduction = if case.reduction == "sum" { Reduction::Sum } else { Reduction::Mean };
    let loss = CosineEmbeddingLossConfig::new()
        .with_margin(case.f64("margin").unwrap_or(0.0) as f32)
        .with_reduction(reduction)
        .init();
    let a = case.float::<2>("input1", array(&shape))?;
    let b = case.float::<2>("input2", array(&shape))?;
    let y = int_tensor::<1>(&labels, [labels.len()], &case.device);
    if case.reduces() {
        let out = loss.forward(a, b, y);
        case.finish(out, &[])
    } else {
        let out = loss.forward_no_reduction(a, b, y);
        case.finish(out, &[shape[0]])
    }
}

fn triplet_margin(mut case: Case) -> Result<Answer, String> {
    if case.bool("swap") {
        unsupported!("burn's triplet margin loss has no swap");
    }
    let shape = case.shape("anchor");
    if shape.len() != 2 || case.shape("positive") != shape || case.shape("negative") != shape {
        unsupported!("burn's triplet margin loss takes three 2-d inputs of one shape");
    }
    // burn has no eps: PyTorch's pairwise_distance adds eps (1e-6) to every difference.
    let loss = TripletMarginLossConfig::new()
        .with_margin(case.f64("margin").unwrap_or(1.0))
        .with_p(case.f64("p").unwrap_or(2.0))
        .init();
    let a = case.float::<2>("anchor", array(&shape))?;
    let p = case.float::<2>("positive", array(&shape))?;
    let n = case.float::<2>("negative", array(&shape))?;
    if case.reduces() {
        let reduction = case.reduction();
        let out = loss.forward(a, p, n, reduction);
        case.finish(out, &[])
    } else {
        let out = loss.forward_no_reduction(a, p, n);
        case.finish(out, &[shape[0]])
    }
}

fn ctc(mut case: Case) -> Result<Answer, String> {
    let shape = case.shape("log_probs");
    let targets = case.host("targets").cloned().ok_or("no targets")?;
    let input_lengths = case.host("input_lengths").cloned().ok_or("no input_lengths")?;
    let target_lengths = case.host("target_lengths").cloned().ok_or("no target_lengths")?;
    if shape.len() != 3 || targets.shape.len() != 2 {
        unsupported!("burn's CTC takes batched (3-d) log-probabilities and padded 2-d targets");
    }
    let blank = case.i64("blank").unwrap_or(0);
    let loss =
        CTCLossConfig::new().with_blank(blank.max(0) as usize).with_zero_infinity(case.bool("zero_infinity")).init();
    let x = case.float::<3>("log_probs", array(&shape))?;
    let t = int_tensor::<2>(&targets.ints, array(&targets.shape), &case.device);
    let il = int_tensor::<1>(&input_lengths.ints, [input_lengths.ints.len()], &case.device);
    let tl = int_tensor::<1>(&target_lengths.ints, [target_lengths.ints.len()], &case.device);
    if case.reduces() {
        let reduction = case.reduction();
        let out = loss.forward_with_reduction(x, t, il, tl, reduction);
        case.finish(out, &[])
    } else {
        let out = loss.forward(x, t, il, tl);
        case.finish(out, &[shape[1]])
    }
}
