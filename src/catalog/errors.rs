//! Error inputs for every loss (PyTorch's `error_inputs_func`): calls that the reference (libtorch,
//! or PyTorch for the Python-only losses) rejects, with text its message contains. The
//! hand-written side must reject them too, with an error rather than a panic
//! (`tests/catalog.rs` runs them all).

use super::samples::{float_tensor, int_tensor, numel, Sample, SampleTensor};
use crate::dtype::DType;
use crate::options::OptionValue;

/// An input the reference rejects: the call, and text its message contains.
#[derive(Debug, Clone)]
pub struct ErrorInput {
    pub name: &'static str,
    pub sample: Sample,
    pub message: &'static str,
}

/// A float tensor of `shape` filled with `value`.
fn filled(shape: &[i64], value: f64) -> SampleTensor {
    float_tensor(shape, vec![value; numel(shape)], false)
}

fn error(
    name: &'static str,
    message: &'static str,
    inputs: Vec<(&'static str, SampleTensor)>,
    options: Vec<(&'static str, OptionValue)>,
) -> ErrorInput {
    ErrorInput { name, message, sample: Sample { inputs, options, dtype: DType::Float32 } }
}

/// Input `[2, 3]` against a target `[3, 2]` that does not broadcast to it.
fn target_shape_mismatch(target: f64) -> ErrorInput {
    error(
        "target-shape-mismatch",
        "must match the size of tensor b",
        vec![("input", filled(&[2, 3], 0.5)), ("target", filled(&[3, 2], target))],
        vec![],
    )
}

pub fn no_errors() -> Vec<ErrorInput> {
    Vec::new()
}

pub fn pointwise_errors() -> Vec<ErrorInput> {
    vec![target_shape_mismatch(0.5)]
}

pub fn sign_target_errors() -> Vec<ErrorInput> {
    vec![target_shape_mismatch(1.0)]
}

pub fn softmax_errors() -> Vec<ErrorInput> {
    vec![error(
        "dim-out-of-range",
        "Dimension out of range",
        vec![("input", filled(&[2, 3], 0.5))],
        vec![("dim", OptionValue::Int(2))],
    )]
}

pub fn binary_cross_entropy_errors() -> Vec<ErrorInput> {
    let input = |x: f64| float_tensor(&[2], vec![x, 0.5], false);
    vec![
        error(
            "input-above-one",
            "all elements of input should be between 0 and 1",
            vec![("input", input(1.5)), ("target", filled(&[2], 0.5))],
            vec![],
        ),
        target_shape_mismatch(0.5),
    ]
}

fn class_target(labels: &[i64]) -> SampleTensor {
    int_tensor(&[labels.len() as i64], labels.to_vec())
}

pub fn nll_loss_errors() -> Vec<ErrorInput> {
    vec![
        error(
            "target-out-of-range",
            "Target 5 is out of bounds",
            vec![("input", filled(&[2, 3], -1.0)), ("target", class_target(&[0, 5]))],
            vec![],
        ),
        error(
            "batch-mismatch",
            "to match target batch_size",
            vec![("input", filled(&[2, 3], -1.0)), ("target", class_target(&[0, 1, 2]))],
            vec![],
        ),
    ]
}

pub fn cross_entropy_errors() -> Vec<ErrorInput> {
    let mut errors = nll_loss_errors();
    errors.push(error(
        "label-smoothing-above-one",
        "label_smoothing must be between 0.0 and 1.0",
        vec![("input", filled(&[2, 3], 0.5)), ("target", class_target(&[0, 1]))],
        vec![("label_smoothing", OptionValue::Float(1.5))],
    ));
    errors
}

pub fn smoothed_target_cross_entropy_errors() -> Vec<ErrorInput> {
    vec![error(
        "class-out-of-range",
        "Class values must be smaller than num_classes",
        vec![("input", filled(&[2, 3], 0.5)), ("target", class_target(&[0, 3]))],
        vec![],
    )]
}

pub fn sigmoid_focal_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "alpha-out-of-range",
        "Invalid alpha value",
        vec![("input", filled(&[2], 0.5)), ("target", filled(&[2], 1.0))],
        vec![("alpha", OptionValue::Float(1.5))],
    )]
}

pub fn smooth_l1_loss_errors() -> Vec<ErrorInput> {
    vec![
        error(
            "negative-beta",
            "smooth_l1_loss does not support negative values for beta",
            vec![("input", filled(&[2], 0.5)), ("target", filled(&[2], 0.0))],
            vec![("beta", OptionValue::Float(-1.0))],
        ),
        target_shape_mismatch(0.5),
    ]
}

pub fn huber_loss_errors() -> Vec<ErrorInput> {
    vec![
        error(
            "zero-delta",
            "huber_loss does not support non-positive values for delta",
            vec![("input", filled(&[2], 0.5)), ("target", filled(&[2], 0.0))],
            vec![("delta", OptionValue::Float(0.0))],
        ),
        target_shape_mismatch(0.5),
    ]
}

pub fn multilabel_margin_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "target-shape-mismatch",
        "inconsistent target size",
        vec![("input", filled(&[2, 3], 0.5)), ("target", int_tensor(&[2, 2], vec![0, -1, 1, -1]))],
        vec![],
    )]
}

pub fn multi_margin_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "p-3",
        "only p == 1 and p == 2 supported",
        vec![("input", filled(&[2, 3], 0.5)), ("target", class_target(&[0, 1]))],
        vec![("p", OptionValue::Int(3))],
    )]
}

pub fn margin_ranking_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "shape-mismatch",
        "must match the size of tensor b",
        vec![("input1", filled(&[3], 0.5)), ("input2", filled(&[2], 0.5)), ("target", filled(&[3], 1.0))],
        vec![],
    )]
}

pub fn cosine_embedding_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "two-dimensional-target",
        "0D or 1D target tensor expected",
        vec![("input1", filled(&[2, 3], 0.5)), ("input2", filled(&[2, 3], 0.25)), ("target", filled(&[2, 1], 1.0))],
        vec![],
    )]
}

fn triplet_inputs(positive: &[i64]) -> Vec<(&'static str, SampleTensor)> {
    vec![("anchor", filled(&[2, 3], 0.5)), ("positive", filled(positive, 0.25)), ("negative", filled(&[2, 3], 1.0))]
}

pub fn triplet_margin_loss_errors() -> Vec<ErrorInput> {
    vec![error("dimension-mismatch", "expected to have the same number of dimensions", triplet_inputs(&[3]), vec![])]
}

pub fn triplet_margin_with_distance_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "zero-margin",
        "margin must be greater than 0",
        triplet_inputs(&[2, 3]),
        vec![("margin", OptionValue::Float(0.0))],
    )]
}

pub fn gaussian_nll_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "negative-variance",
        "var has negative entry/entries",
        vec![
            ("input", filled(&[2], 0.5)),
            ("target", filled(&[2], 0.0)),
            ("var", float_tensor(&[2], vec![1.0, -1.0], false)),
        ],
        vec![],
    )]
}

pub fn ctc_loss_errors() -> Vec<ErrorInput> {
    vec![error(
        "blank-out-of-range",
        "blank must be in label range",
        vec![
            ("log_probs", filled(&[4, 1, 3], -(3f64).ln())),
            ("targets", int_tensor(&[1, 1], vec![1])),
            ("input_lengths", int_tensor(&[1], vec![4])),
            ("target_lengths", int_tensor(&[1], vec![1])),
        ],
        vec![("blank", OptionValue::Int(5))],
    )]
}
