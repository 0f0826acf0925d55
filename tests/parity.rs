//! Every case in `fixtures/` agrees three ways, regeneration reproduces the stored files, and
//! the harness catches a deliberately broken implementation.

use std::path::{Path, PathBuf};
use tch::Tensor;
use tch_parity::fixture::regen::regenerate;
use tch_parity::fixture::write::to_text;
use tch_parity::fixture::{load_path, DType, FixtureFile};
use tch_parity::harness::registry::{self, Args, LossInfo};
use tch_parity::harness::report::failure_detail;
use tch_parity::harness::run::{run_case, run_case_with, CheckKind, Row};
use tch_parity::Reduction;

fn fixtures() -> Vec<FixtureFile> {
    load_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")).expect("the fixtures load")
}

#[test]
fn every_fixture_case_agrees() {
    let mut rows = 0;
    let mut failures = String::new();
    for file in fixtures() {
        for case in &file.cases {
            for row in run_case(&file.path.display().to_string(), case, &DType::ALL) {
                rows += 1;
                if !row.passed() {
                    failures.push_str(&failure_detail(&row));
                }
            }
        }
    }
    assert!(rows > 0);
    assert!(failures.is_empty(), "disagreements:\n{failures}");
}

#[test]
fn every_registered_loss_has_a_seed_or_companion_case_with_values_and_an_error_case_where_libtorch_rejects() {
    let files = fixtures();
    let cases: Vec<_> = files.iter().flat_map(|f| &f.cases).collect();
    for info in registry::LOSSES {
        let with_values = cases.iter().filter(|c| c.op == info.id && c.expected().is_some()).count();
        assert!(with_values >= 2, "{} has {with_values} cases with recorded values", info.id);
        if info.inputs.len() > 1 {
            let rejecting = cases.iter().filter(|c| c.op == info.id && c.expected().is_none()).count();
            assert!(rejecting >= 1, "{} has no error case", info.id);
        }
    }
}

#[test]
fn every_optimizer_runs_on_every_objective_and_has_error_cases() {
    use tch_parity::harness::{objectives::OBJECTIVES, optimizers::OPTIMIZERS};
    let files = fixtures();
    let cases: Vec<_> = files.iter().flat_map(|f| &f.cases).collect();
    for info in OPTIMIZERS {
        for objective in OBJECTIVES {
            let n = cases
                .iter()
                .filter(|c| c.op == info.id && c.trajectory.as_ref().is_some_and(|t| t.objective == objective.id))
                .count();
            assert!(n >= 1, "{} never runs on {}", info.id, objective.id);
        }
        let rejecting = cases.iter().filter(|c| c.op == info.id && c.expected().is_none()).count();
        assert!(rejecting >= 2, "{} has {rejecting} invalid-hyperparameter cases", info.id);
        assert!(cases
            .iter()
            .filter(|c| c.op == info.id)
            .all(|c| c.trajectory.as_ref().is_none_or(|t| t.steps >= 50 || c.expected().is_none())));
    }
}

/// What `tch-parity regen --check` verifies: recording again from the live libtorch gives the
/// stored files byte for byte.
#[test]
fn regenerating_reproduces_every_fixture_byte_for_byte() {
    for file in fixtures() {
        let (again, _) = regenerate(&file, &|_| true).unwrap_or_else(|p| panic!("{:?}", p));
        let stored = std::fs::read_to_string(&file.path).unwrap();
        assert!(to_text(&again) == stored, "{} would change on regen", file.path.display());
    }
}

/// BCE as the document writes it, without libtorch's −100 clamp on each log term.
fn unclamped_bce(args: &Args, reduction: Reduction) -> tch_parity::Result<Tensor> {
    let (x, t) = (args.tensor("input")?, args.tensor("target")?);
    let loss = -(t * x.log() + t.neg().g_add_scalar(1.0) * x.neg().g_add_scalar(1.0).log());
    reduction.apply(loss)
}

fn log_clamp_rows(info: &LossInfo) -> Vec<Row> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/binary/binary_cross_entropy.json");
    let file = load_path(&path).unwrap().remove(0);
    let case = file.cases.iter().find(|c| c.name == "log-clamp").expect("the log-clamp case");
    run_case_with(info, "binary_cross_entropy.json", case, &[DType::Float32])
}

#[test]
fn the_harness_catches_bce_without_the_log_clamp() {
    let real = registry::find("binary_cross_entropy").unwrap();
    assert!(log_clamp_rows(real).iter().all(Row::passed), "the real implementation passes this case");

    let broken = LossInfo { hand_written: unclamped_bce, ..*real };
    let rows = log_clamp_rows(&broken);
    let output_none = rows.iter().find(|r| r.variant == "none" && r.output == "output").expect("a none/output row");
    assert!(!output_none.passed());
    let check = output_none.check(CheckKind::HandVsLibtorch).unwrap();
    let comparison = check.comparison.as_ref().unwrap();
    // Inputs [0, 0, 1, 1, 1e-45, 1e-30, 0.5, 0] with targets [0, 1, 0, 1, 1, 1, 0.5, 0.5].
    // Without the clamp: 0·ln 0 is NaN at [0], [3] and [7]; ln 0 is inf at [1] and [2] where
    // libtorch gives 100; float32(1e-45) gives 103.28 at [4]. Only [5] and [6] agree.
    assert_eq!((comparison.mismatched, comparison.numel), (6, 8), "{comparison:?}");
    let worst = comparison.worst.as_ref().unwrap();
    assert_eq!(worst.index, vec![0], "the first NaN is the worst element");
    assert_eq!(worst.expected, 0.0);
    assert!(worst.actual.is_nan());
    // The fixture agrees with libtorch, so the hand-written side fails against it too.
    assert!(!output_none.check(CheckKind::HandVsFixture).unwrap().passed);
    assert!(output_none.check(CheckKind::LibtorchVsFixture).unwrap().passed);
    // Every reduction of the output is caught, not just `none`.
    for reduction in Reduction::ALL {
        assert!(
            rows.iter().any(|r| r.variant == reduction.name() && r.output == "output" && !r.passed()),
            "{reduction}"
        );
    }
}
