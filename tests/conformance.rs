//! The conformance API: pinned findings pass while they show and fail once gone; a subject that
//! panics, answers in the wrong dtype or shape, or gives NaN where PyTorch has a number fails
//! those rows while every other case still runs.

use tch_parity::check::load_path;
use tch_parity::conformance::matrix::Status;
use tch_parity::conformance::{conform, fixtures, Answer, Finding, HostTensor, LossCase, LossOutput, Outcome, Subject};
use tch_parity::dtype::DType;
use tch_parity::fixture::FixtureFile;
use tch_parity::Reduction;

fn files() -> Vec<FixtureFile> {
    let root = fixtures().join("regression");
    ["mse_loss.json", "l1_loss.json"].iter().flat_map(|f| load_path(&root.join(f)).expect("fixtures load")).collect()
}

/// MSE, (x − t)², in every reduction, from plain data; `mean_as_sum` is the bug of a mean that
/// forgets to divide.
fn mse(case: &LossCase, mean_as_sum: bool) -> Answer<LossOutput> {
    let (x, t) = (case.floats("input"), case.floats("target"));
    if case.input("input").map(|h| &h.shape) != case.input("target").map(|h| &h.shape) {
        return Answer::Unsupported;
    }
    let n = if mean_as_sum { 1.0 } else { x.len() as f64 };
    let weight = |k: usize| match case.reduction {
        Reduction::None => LossCase::output_weight(k),
        Reduction::Mean => 1.0 / n,
        Reduction::Sum => 1.0,
    };
    let loss: Vec<f64> = x.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).collect();
    let grad: Vec<f64> = x.iter().zip(t).enumerate().map(|(k, (a, b))| 2.0 * (a - b) * weight(k)).collect();
    let output = match case.reduction {
        Reduction::None => case.like("input", loss),
        Reduction::Mean => case.scalar(loss.iter().sum::<f64>() / n),
        Reduction::Sum => case.scalar(loss.iter().sum()),
    };
    let minus = grad.iter().map(|g| -g).collect();
    Answer::Value(
        LossOutput::new(output)
            .with_grad("input", case.like("input", grad))
            .with_grad("target", case.like("target", minus)),
    )
}

struct Mse {
    mean_as_sum: bool,
}

impl Subject for Mse {
    fn name(&self) -> &'static str {
        "mse"
    }

    fn loss(&self, case: &LossCase) -> Answer<LossOutput> {
        if case.op != "mse_loss" {
            return Answer::Unsupported;
        }
        mse(case, self.mean_as_sum)
    }
}

const MEAN_IS_SUM: &str = "the mean forgets to divide";

fn mean_finding() -> Finding {
    Finding::new("mse_loss", &[], MEAN_IS_SUM).variants(&["mean"])
}

#[test]
fn a_pinned_finding_passes_while_it_shows_and_a_new_disagreement_fails() {
    let files = files();
    let findings = [mean_finding()];
    let pinned = conform(Mse { mean_as_sum: true }, &files, &["mse_loss".into()], &findings);
    assert!(pinned.passed(), "{}", pinned.matrix.render(tch_parity::check::Format::Table));
    let known: Vec<_> = pinned.matrix.cells.iter().filter(|c| c.status == Status::KnownFinding).collect();
    assert!(
        !known.is_empty() && known.iter().all(|c| c.variant == "mean" && c.finding.as_deref() == Some(MEAN_IS_SUM))
    );
    // none and sum agree: the finding covers nothing else.
    assert!(pinned.matrix.cells.iter().any(|c| c.variant == "sum" && c.status == Status::Agrees));

    let unpinned = conform(Mse { mean_as_sum: true }, &files, &["mse_loss".into()], &[]);
    assert!(!unpinned.passed());
    let table = unpinned.matrix.render(tch_parity::check::Format::Table);
    assert!(table.contains("Disagreements:") && table.contains("mse_loss [defaults] mean float32"), "{table}");
}

#[test]
fn a_finding_that_no_longer_shows_fails_saying_so() {
    let files = files();
    let outcome = conform(Mse { mean_as_sum: false }, &files, &["mse_loss".into()], &[mean_finding()]);
    assert!(!outcome.passed());
    let gone = outcome.report.rows.iter().flat_map(|r| &r.checks).filter(|c| !c.passed);
    let messages: Vec<_> = gone.filter_map(|c| c.message.clone()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("no longer shows") && messages[0].contains(MEAN_IS_SUM));
}

/// A subject that computes MSE correctly and answers L1 badly in one way.
#[derive(Clone, Copy)]
enum Bad {
    Panics,
    WrongDtype,
    WrongShape,
    Nan,
    MissingGradient,
}

impl Subject for Bad {
    fn name(&self) -> &'static str {
        "bad"
    }

    fn loss(&self, case: &LossCase) -> Answer<LossOutput> {
        match case.op {
            "mse_loss" => mse(case, false),
            "l1_loss" if case.reduction == Reduction::Sum && case.dtype == DType::Float32 => {
                let grads = |out: HostTensor| {
                    let zeros = |name: &str| case.like(name, vec![0.0; case.floats(name).len()]);
                    LossOutput::new(out).with_grad("input", zeros("input")).with_grad("target", zeros("target"))
                };
                match self {
                    Bad::Panics => panic!("index out of bounds in my L1"),
                    Bad::WrongDtype => Answer::Value(grads(HostTensor::scalar(DType::Float64, 1.0))),
                    Bad::WrongShape => Answer::Value(grads(HostTensor::float([1], DType::Float32, vec![1.0]))),
                    Bad::Nan => Answer::Value(grads(case.scalar(f64::NAN))),
                    Bad::MissingGradient => Answer::Value(LossOutput::new(case.scalar(1.0))),
                }
            }
            _ => Answer::Unsupported,
        }
    }
}

fn failures(outcome: &Outcome) -> Vec<String> {
    let rows = outcome.report.rows.iter().filter(|r| !r.passed());
    rows.map(tch_parity::check::report::failure_detail).collect()
}

#[test]
fn bad_answers_are_failed_rows_and_every_other_case_still_runs() {
    let files = files();
    for (bad, expected) in [
        (Bad::Panics, "panicked: index out of bounds in my L1"),
        (Bad::WrongDtype, "bad returned output in float64 where float32 was asked for"),
        (Bad::WrongShape, "shape [1] where [] was expected"),
        (Bad::Nan, "bad NaN"),
        (Bad::MissingGradient, "bad returned no grad.input"),
    ] {
        let outcome = conform(bad, &files, &[], &[]);
        let failed = failures(&outcome);
        assert!(!failed.is_empty(), "{expected}: no failed row");
        // Only the calls it answered badly fail (their zero gradients too), and the bad answer
        // is named.
        for detail in &failed {
            assert!(detail.starts_with("l1_loss/") && detail.contains("float32 sum"), "{detail}");
        }
        assert!(failed.iter().any(|d| d.contains(expected)), "expected \"{expected}\" in:\n{}", failed.join("\n"));
        // MSE, computed correctly by the same subject, still ran and agreed in every dtype.
        let mse_rows = outcome.report.rows.iter().filter(|r| r.op == "mse_loss" && !r.unsupported);
        let (all, passed) = mse_rows.fold((0, 0), |(a, p), r| (a + 1, p + usize::from(r.passed())));
        assert!(all > 50 && passed == all, "{expected}: mse {passed} of {all}");
    }
}

#[test]
fn a_finding_outside_a_filtered_run_is_left_out_and_one_naming_no_case_fails() {
    let files = files();
    let elsewhere = Finding::new("l1_loss", &[], "a finding about another op");
    let filtered = conform(Mse { mean_as_sum: true }, &files, &["mse_loss".into()], &[mean_finding(), elsewhere]);
    assert!(filtered.passed(), "{}", filtered.matrix.render(tch_parity::check::Format::Table));

    let misnamed = Finding::new("mse_loss", &["no-such-case"], "a finding whose case was renamed");
    let whole = conform(Mse { mean_as_sum: true }, &files, &[], &[mean_finding(), misnamed]);
    assert!(!whole.passed());
    let failed: Vec<_> = whole.report.rows.iter().filter(|r| !r.passed()).collect();
    assert_eq!(failed.len(), 1);
    let message = failed[0].checks[0].message.as_deref().unwrap_or("");
    assert!(message.contains("covers no case of this run (a finding whose case was renamed)"), "{message}");
}
