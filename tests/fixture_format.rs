//! The fixture format: floats read back to the same bits, files read back to the same bytes,
//! and every kind of broken file is an error naming the file, the case and the field.

use rstest::rstest;
use std::path::{Path, PathBuf};
use tch_parity::check::validate::{load_path, option_value, parse_file};
use tch_parity::fixture::float::{from_json, to_json};
use tch_parity::fixture::write::to_text;
use tch_parity::fixture::DType;
use tch_parity::options::OptionValue;

/// A deterministic spread of bit patterns: every exponent, random mantissas, both signs.
fn bit_patterns_f64() -> Vec<f64> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut values =
        vec![0.0, -0.0, f64::MIN_POSITIVE, f64::MAX, f64::MIN, f64::EPSILON, f64::from_bits(1), -f64::from_bits(1)];
    for _ in 0..20_000 {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let x = f64::from_bits(state);
        if x.is_finite() {
            values.push(x);
        }
    }
    values
}

fn bit_patterns_f32() -> Vec<f32> {
    let mut state = 0x2545_f491u32;
    let mut values =
        vec![0.0, -0.0, f32::MIN_POSITIVE, f32::MAX, f32::MIN, f32::EPSILON, f32::from_bits(1), 0.1, 1e-45];
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let x = f32::from_bits(state);
        if x.is_finite() {
            values.push(x);
        }
    }
    values
}

/// Writes each value to JSON text and parses that text back, as a fixture file does.
fn through_text(x: f64, dtype: DType) -> f64 {
    let text = serde_json::to_string(&to_json(x, dtype)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    from_json(&value, dtype).unwrap()
}

#[test]
fn float64_values_read_back_to_the_same_bits() {
    for x in bit_patterns_f64() {
        assert_eq!(through_text(x, DType::Float64).to_bits(), x.to_bits(), "{x:e}");
    }
}

#[test]
fn float32_values_read_back_to_the_same_bits() {
    for x in bit_patterns_f32() {
        let back = through_text(f64::from(x), DType::Float32);
        assert_eq!((back as f32).to_bits(), x.to_bits(), "{x:e}");
    }
}

#[rstest]
#[case::nan(f64::NAN, "\"NaN\"")]
#[case::infinity(f64::INFINITY, "\"inf\"")]
#[case::negative_infinity(f64::NEG_INFINITY, "\"-inf\"")]
#[case::negative_zero(-0.0, "-0.0")]
#[case::shortest_float32(f64::from(0.1f32), "0.1")]
fn special_values_have_a_spelling(#[case] x: f64, #[case] text: &str) {
    let dtype = DType::Float32;
    assert_eq!(serde_json::to_string(&to_json(x, dtype)).unwrap(), text);
    let back = through_text(x, dtype);
    assert!(back.to_bits() == x.to_bits() || (x.is_nan() && back.is_nan()));
}

#[test]
fn decimal_text_is_rounded_once_at_the_dtype() {
    // 0.1 read at float32 is float32(0.1), not float32(float64(0.1)) rounded again; for this
    // input the two agree, so check a value where double rounding differs:
    // 1.00000005960464477539062500000001 lies just above the midpoint between 1 and its float32
    // successor; rounded once it goes up, rounded through float64 (which lands exactly on the
    // midpoint) it goes down to 1.
    let text: serde_json::Value = serde_json::from_str("1.00000005960464477539062500000001").unwrap();
    let once = from_json(&text, DType::Float32).unwrap() as f32;
    assert_eq!(once.to_bits(), 1.0f32.to_bits() + 1);
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every fixture in the repository is already in canonical form: loading and writing it again
/// gives the same bytes (so `regen` with unchanged values rewrites nothing).
#[test]
fn every_fixture_file_round_trips_byte_for_byte() {
    let files = load_path(&fixtures_dir()).expect("fixtures load");
    assert!(!files.is_empty());
    for file in files {
        let original = std::fs::read_to_string(&file.path).unwrap();
        assert!(original == to_text(&file), "{} is not in canonical form", file.path.display());
    }
}

const VALID: &str = r#"{
  "format": "tch-parity-fixture/1",
  "cases": [
    {
      "name": "tiny",
      "source": "test",
      "op": "binary_cross_entropy",
      "inputs": {
        "input": {"dtype": "float", "shape": [2], "data": [0.25, 0.5], "requires_grad": true},
        "target": {"dtype": "float", "shape": [2], "data": [0, 1]}
      },
      "expected": {
        "libtorch": "2.13.0",
        "float32": {
          "none": {"output": {"shape": [2], "data": [0.2876821, 0.6931472]},
                   "grad.input": {"shape": [2], "data": [0.33333334, -1.0]}},
          "mean": {"output": {"shape": [], "data": [0.49041465]},
                   "grad.input": {"shape": [2], "data": [0.6666667, -1.0]}},
          "sum": {"output": {"shape": [], "data": [0.9808293]}, "grad.input": {"shape": [2], "data": [1.3333334, -2.0]}}
        },
        "float64": {
          "none": {"output": {"shape": [2], "data": [0.1, 0.2]}, "grad.input": {"shape": [2], "data": [0.1, 0.2]}},
          "mean": {"output": {"shape": [], "data": [0.1]}, "grad.input": {"shape": [2], "data": [0.1, 0.2]}},
          "sum": {"output": {"shape": [], "data": [0.1]}, "grad.input": {"shape": [2], "data": [0.1, 0.2]}}
        }
      }
    }
  ]
}"#;

#[test]
fn the_valid_example_parses() {
    let file = parse_file(Path::new("valid.json"), VALID).expect("valid");
    assert_eq!(file.cases.len(), 1);
}

/// Each mutation of the valid file, and the field the error must name.
#[rstest]
#[case::data_length(
    r#""shape": [2], "data": [0.25, 0.5]"#,
    r#""shape": [3], "data": [0.25, 0.5]"#,
    "inputs.input.data",
    "2 values for shape [3]"
)]
#[case::unknown_dtype(
    r#""dtype": "float", "shape": [2], "data": [0, 1]"#,
    r#""dtype": "float16", "shape": [2], "data": [0, 1]"#,
    "inputs.target.dtype",
    "unknown dtype 'float16'"
)]
#[case::unknown_op(r#""op": "binary_cross_entropy""#, r#""op": "bce""#, "op", "unknown op 'bce'")]
#[case::missing_reduction(
    ",\n          \"sum\": {\"output\": {\"shape\": [], \"data\": [0.1]}, \
     \"grad.input\": {\"shape\": [2], \"data\": [0.1, 0.2]}}",
    "",
    "expected.float64.sum",
    "missing"
)]
#[case::misspelt_reduction(
    r#""sum": {"output": {"shape": [], "data": [0.1]}"#,
    r#""summ": {"output": {"shape": [], "data": [0.1]}"#,
    "expected.float64.summ",
    "unknown field"
)]
#[case::wrong_requires_grad_type(
    r#""requires_grad": true"#,
    r#""requires_grad": "yes""#,
    "inputs.input.requires_grad",
    "expected a bool"
)]
#[case::unknown_input(r#""target": {"#, r#""tagret": {"#, "inputs.tagret", "takes no input 'tagret'")]
#[case::unknown_option(
    r#""source": "test","#,
    r#""source": "test", "options": {"beta": 1.0},"#,
    "options.beta",
    "has no option 'beta'"
)]
#[case::bad_float(
    r#"[0.2876821, 0.6931472]"#,
    r#"[0.2876821, "zero"]"#,
    "expected.float32.none.output.data[1]",
    "expected a number"
)]
#[case::tolerance_without_reason(
    r#""source": "test","#,
    r#""source": "test", "tolerance": {"float32": {"rtol": 1e-5, "atol": 1e-5}},"#,
    "tolerance.reason",
    "needs a written reason"
)]
#[case::missing_output(
    ",\n                   \"grad.input\": {\"shape\": [2], \"data\": [0.6666667, -1.0]}",
    "",
    "expected.float32.mean.grad.input",
    "missing"
)]
#[case::negative_shape(
    r#""shape": [2], "data": [0, 1]"#,
    r#""shape": [-2], "data": [0, 1]"#,
    "inputs.target.shape",
    "non-negative integers"
)]
#[case::difference_without_reason(
    r#""op": "binary_cross_entropy","#,
    r#""op": "binary_cross_entropy", "differences": [{"variants": ["mean"]}],"#,
    "differences.reason",
    "needs a written reason"
)]
#[case::difference_in_another_dtype(
    r#""op": "binary_cross_entropy","#,
    concat!(
        r#""op": "binary_cross_entropy", "dtypes": ["float32", "float64"], "#,
        r#""differences": [{"dtypes": ["float16"], "reason": "r"}],"#
    ),
    "differences.dtypes",
    "float16 is not one of the case's dtypes"
)]
fn a_broken_field_is_named(#[case] from: &str, #[case] to: &str, #[case] field: &str, #[case] message: &str) {
    assert!(VALID.contains(from), "the mutation must apply: {from}");
    let broken = VALID.replacen(from, to, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, broken).unwrap();
    let error = load_path(&path).expect_err("a broken fixture is an error");
    assert_eq!(error.file, path);
    assert_eq!(error.case.as_deref(), Some("tiny"));
    assert_eq!(error.field, field, "{error}");
    assert!(error.message.contains(message), "{error}");
    let shown = error.to_string();
    assert!(shown.contains("broken.json") && shown.contains("case 'tiny'") && shown.contains(field), "{shown}");
}

#[rstest]
#[case::not_json("{", "not valid JSON")]
#[case::empty("", "not valid JSON")]
#[case::truncated(&VALID[..VALID.len() / 2], "not valid JSON")]
#[case::wrong_format(r#"{"format": "other/1", "cases": []}"#, "expected \"tch-parity-fixture/1\"")]
#[case::cases_not_array(r#"{"format": "tch-parity-fixture/1", "cases": {}}"#, "expected an array")]
#[case::top_level_array("[]", "expected an object")]
fn a_broken_file_is_an_error_naming_it(#[case] text: &str, #[case] message: &str) {
    let error = parse_file(Path::new("some/file.json"), text).expect_err("broken");
    assert_eq!(error.file, Path::new("some/file.json"));
    assert!(error.message.contains(message) || error.to_string().contains(message), "{error}");
}

#[test]
fn duplicate_case_names_are_rejected() {
    let start = VALID.find("    {\n      \"name\"").unwrap();
    let end = VALID.rfind("\n  ]").unwrap();
    let case = &VALID[start..end];
    let doubled = VALID.replacen(case, &format!("{case},\n{case}"), 1);
    let error = parse_file(Path::new("dup.json"), &doubled).expect_err("duplicate");
    assert_eq!((error.case.as_deref(), error.field.as_str()), (Some("tiny"), "name"));
}

#[rstest]
#[case(serde_json::json!(1.5), OptionValue::Bool(false), "expected a bool")]
#[case(serde_json::json!("0.1"), OptionValue::Float(0.0), "expected a number")]
#[case(serde_json::json!(2.5), OptionValue::Int(0), "expected an integer")]
fn an_option_of_the_wrong_type_is_an_error(
    #[case] value: serde_json::Value,
    #[case] like: OptionValue,
    #[case] message: &str,
) {
    let error = option_value(&value, like).expect_err("wrong type");
    assert!(error.contains(message), "{error}");
}

#[test]
fn a_missing_path_is_an_error_not_a_panic() {
    let error = load_path(Path::new("/nonexistent/fixtures")).expect_err("missing");
    assert!(error.message.contains("cannot read"), "{error}");
}

/// `no_grad` names the objective's parameters and steps from 2 (each parameter's state starts
/// at its first gradient); anything else is an error at the field.
#[rstest]
#[case::first_step(
    r#""no_grad": {"w2": [5, 6, 7, 20, 35]}"#,
    r#""no_grad": {"w2": [1, 6]}"#,
    "no_grad.w2",
    "from 2 to 50"
)]
#[case::beyond_the_run(
    r#""no_grad": {"w2": [5, 6, 7, 20, 35]}"#,
    r#""no_grad": {"w2": [51]}"#,
    "no_grad.w2",
    "from 2 to 50"
)]
#[case::unknown_parameter(
    r#""no_grad": {"w2": [5, 6, 7, 20, 35]}"#,
    r#""no_grad": {"w3": [5]}"#,
    "no_grad.w3",
    "expected parameter names of 'linear_net'"
)]
fn a_broken_no_grad_is_named(#[case] from: &str, #[case] to: &str, #[case] field: &str, #[case] message: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/optim/sgd.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "the mutation must apply: {from}");
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("sgd.json");
    std::fs::write(&broken, text.replacen(from, to, 1)).unwrap();
    let error = load_path(&broken).expect_err("a broken fixture is an error");
    assert_eq!(error.case.as_deref(), Some("no-grad-at-some-steps/linear_net"));
    assert_eq!(error.field, field, "{error}");
    assert!(error.message.contains(message), "{error}");
}

/// An optimizer with a closure (LBFGS) evaluates every gradient itself: `no_grad` is an error.
#[test]
fn no_grad_is_refused_for_an_optimizer_with_a_closure() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/optim/lbfgs.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let from = r#""objective": "rosenbrock","#;
    assert!(text.contains(from));
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("lbfgs.json");
    std::fs::write(&broken, text.replacen(from, r#""objective": "rosenbrock", "no_grad": {"xy": [2]},"#, 1)).unwrap();
    let error = load_path(&broken).expect_err("no_grad on LBFGS is an error");
    assert_eq!(error.field, "no_grad", "{error}");
    assert!(error.message.contains("evaluates the objective itself"), "{error}");
}
