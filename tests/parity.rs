//! Every case in `fixtures/` agrees three ways, regeneration reproduces the stored files, and
//! the checker catches a deliberately broken implementation registered beside the others.

use std::path::{Path, PathBuf};
use tch::Tensor;
use tch_parity::catalog::{LossCall, LOSSES, OBJECTIVES, OPTIMIZERS};
use tch_parity::check::report::failure_detail;
use tch_parity::check::run::{run_case, Row, FIXTURE};
use tch_parity::check::{check, load_path, Selection};
use tch_parity::fixture::write::to_text;
use tch_parity::fixture::{DType, FixtureFile};
use tch_parity::implementation::{hand_written::HandWritten, LossFunction, Registry};
use tch_parity::record::regenerate;
use tch_parity::Reduction;

fn fixtures() -> Vec<FixtureFile> {
    // libtorch on one thread, as the CLI runs the gate: the fixtures' tensors are too small to
    // split, and a kernel that splits however little there is (softmax's) would wake a worker
    // that then spins on the core the other tests need.
    tch::set_num_threads(1);
    load_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")).expect("the fixtures load")
}

#[test]
fn every_fixture_case_agrees() {
    // The gate as CI runs it: torch.optim's trajectories replayed from the fixtures (the test
    // below regenerates them live and finds them unchanged), calculus and layouts on.
    let selection = Selection { calculus: true, layouts: true, ..Default::default() };
    let report = check(&Registry::standard(), &fixtures(), &selection);
    let failures: String = report.rows.iter().filter(|r| !r.passed()).map(failure_detail).collect();
    assert!(report.rows.len() > 10000, "{} rows", report.rows.len());
    assert!(failures.is_empty(), "disagreements:\n{failures}");
    // Every row was checked against a reference: libtorch live, or PyTorch in Python through what
    // the fixtures recorded from it (not run live; the test below runs it and finds the
    // recordings unchanged).
    let unreferenced: Vec<String> =
        report.rows.iter().filter_map(|r| r.note.clone()).filter(|n| !n.contains("not run live")).collect();
    assert!(unreferenced.is_empty(), "{:?}", &unreferenced[..unreferenced.len().min(3)]);
    // Second derivatives: compared for every loss that has them, in float32 and float64, and
    // refused by both sides, in libtorch's words, for exactly the ops the catalogue says lack
    // them (2.13: CTC, multi_margin, multilabel_margin).
    for spec in LOSSES.iter().filter(|s| s.inputs.iter().any(|i| i.differentiable)) {
        let rows = |output: fn(&str) -> bool| {
            report.rows.iter().filter(|r| r.op == spec.id && !r.dtype.is_half() && output(&r.output)).count()
        };
        let (compared, refused) = (rows(|o| o.starts_with("grad2.")), rows(|o| o == "grad2"));
        if spec.double_backward {
            assert!(compared >= 2 && refused == 0, "{}: {compared} grad2 rows, {refused} refusals", spec.id);
        } else {
            assert!(compared == 0 && refused >= 2, "{}: {compared} grad2 rows, {refused} refusals", spec.id);
        }
    }
    // Calculus: every loss's float64 gradients of both orders are checked against central
    // differences, on both sides where libtorch computes in process.
    for spec in LOSSES.iter().filter(|s| s.inputs.iter().any(|i| i.differentiable)) {
        let checked = |prefix: &str, side: &str| {
            report
                .rows
                .iter()
                .filter(|r| r.op == spec.id && r.output.starts_with(prefix))
                .filter(|r| r.checks.iter().any(|c| c.against == "calculus" && c.subject == side))
                .count()
        };
        assert!(checked("grad.", "hand-written") >= 2, "{}: first order not checked against calculus", spec.id);
        if spec.double_backward {
            assert!(checked("grad2.", "hand-written") >= 2, "{}: second order not checked against calculus", spec.id);
        }
        if spec.reference == tch_parity::catalog::Reference::Libtorch {
            assert!(checked("grad.", "libtorch") >= 2, "{}: libtorch not checked against calculus", spec.id);
        }
    }
    // Layouts: every loss runs strided, and transposed and expanded wherever an input allows,
    // the hand-written side equal to the contiguous run value for value (the gate's check).
    for spec in LOSSES {
        let layouts: std::collections::BTreeSet<&str> = report
            .rows
            .iter()
            .filter(|r| r.op == spec.id && r.output == "every output")
            .filter_map(|r| r.variant.split('/').nth(1))
            .collect();
        assert!(layouts.contains("strided") && layouts.len() >= 2, "{}: {layouts:?}", spec.id);
    }
    let refusal = report.rows.iter().find(|r| r.output == "grad2").expect("a refusal row");
    let said = refusal.checks.iter().filter_map(|c| c.message.as_deref()).collect::<Vec<_>>();
    assert!(said.len() == 2 && said.iter().all(|m| m.contains("derivative for aten::")), "{said:?}");
}

#[test]
fn every_registered_loss_has_a_seed_or_companion_case_with_values_and_an_error_case_where_libtorch_rejects() {
    let files = fixtures();
    let cases: Vec<_> = files.iter().flat_map(|f| &f.cases).collect();
    for spec in LOSSES {
        let with_values = cases.iter().filter(|c| c.op == spec.id && c.expected().is_some()).count();
        assert!(with_values >= 2, "{} has {with_values} cases with recorded values", spec.id);
        if spec.inputs.len() > 1 {
            let rejecting = cases.iter().filter(|c| c.op == spec.id && c.expected().is_none()).count();
            assert!(rejecting >= 1, "{} has no error case", spec.id);
        }
    }
}

#[test]
fn every_optimizer_runs_on_every_objective_and_has_error_cases() {
    let files = fixtures();
    let cases: Vec<_> = files.iter().flat_map(|f| &f.cases).collect();
    let runs_on = |op: &str, objective: &str| {
        cases.iter().any(|c| c.op == op && c.trajectory().is_some_and(|t| t.objective == objective))
    };
    for objective in OBJECTIVES {
        assert!(OPTIMIZERS.iter().any(|o| runs_on(o.id, objective.id)), "nothing runs on {}", objective.id);
    }
    for spec in OPTIMIZERS {
        // libtorch's optimizers on every objective of vectors and matrices alike; the others
        // on at least three, one of them with matrix parameters (Adafactor's factored moments,
        // Muon's only kind).
        let objectives: Vec<&str> = OBJECTIVES.iter().map(|o| o.id).filter(|o| runs_on(spec.id, o)).collect();
        if spec.sparse_gradients {
            assert!(objectives.contains(&"embedding"), "{} runs on {objectives:?}", spec.id);
        } else if spec.python_only {
            assert!(objectives.len() >= 3, "{} runs on {objectives:?}", spec.id);
            assert!(objectives.iter().any(|o| ["l1", "linear_net", "focal"].contains(o)), "{}", spec.id);
        } else {
            // The objectives made for one optimizer's needs (Muon's matrices, SparseAdam's sparse
            // gradient) aside; every optimizer runs the linear network with an empty parameter.
            let special = ["linear_net", "embedding"];
            let missing: Vec<&str> =
                OBJECTIVES.iter().map(|o| o.id).filter(|o| !special.contains(o) && !objectives.contains(o)).collect();
            assert!(missing.is_empty(), "{} never runs on {missing:?}", spec.id);
        }
        // libtorch's C++ LBFGS checks none of its options: its one error case is a second
        // parameter group (and a step without a closure, tests/catalog.rs).
        let rejecting = cases.iter().filter(|c| c.op == spec.id && c.expected().is_none()).count();
        let least = if spec.closure { 1 } else { 2 };
        assert!(rejecting >= least, "{} has {rejecting} invalid-hyperparameter cases", spec.id);
        // Fifty steps; ten for an optimizer whose step is itself up to max_iter (20) iterations.
        let steps = if spec.closure { 10 } else { 50 };
        assert!(cases
            .iter()
            .filter(|c| c.op == spec.id)
            .all(|c| c.trajectory().is_none_or(|t| t.steps >= steps || c.expected().is_none())));
    }
}

/// What `tch-parity regen --check` verifies: recording again from the live references gives the
/// stored files byte for byte.
#[test]
fn regenerating_reproduces_every_fixture_byte_for_byte() {
    let registry = Registry::live();
    let files = fixtures();
    // As `regen` does: Python starts on every torch.optim run at once.
    tch_parity::check::run::prepare(&registry, &files, &Selection::default(), &DType::ALL);
    for file in files {
        let (again, _) = regenerate(&registry, &file, &|_| true, false).unwrap_or_else(|p| panic!("{:?}", p));
        let stored = std::fs::read_to_string(&file.path).unwrap();
        assert!(to_text(&again) == stored, "{} would change on regen", file.path.display());
    }
}

/// BCE as the document writes it, without libtorch's −100 clamp on each log term.
fn unclamped_bce(call: &LossCall) -> Option<tch_parity::Result<Tensor>> {
    let LossCall::BinaryCrossEntropy { input: x, target: t, reduction, .. } = *call else { return None };
    let loss = -(t * x.log() + t.neg().g_add_scalar(1.0) * x.neg().g_add_scalar(1.0).log());
    Some(reduction.apply(loss))
}

fn log_clamp_rows(registry: &Registry) -> Vec<Row> {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/binary/binary_cross_entropy.json");
    let file = load_path(&path).unwrap().remove(0);
    let case = file.cases.iter().find(|c| c.name == "log-clamp").expect("the log-clamp case");
    run_case(
        registry,
        "binary_cross_entropy.json",
        case,
        &Selection { dtypes: vec![DType::Float32], ..Default::default() },
    )
}

/// A third implementation is registered in one place, the registry, without touching the
/// hand-written or libtorch code; the checker compares it and reports it by name.
#[test]
fn the_checker_catches_bce_without_the_log_clamp() {
    let registry = Registry {
        subjects: vec![Box::new(HandWritten), Box::new(LossFunction::new("unclamped", unclamped_bce))],
        references: Registry::standard_references(),
    };
    let rows = log_clamp_rows(&registry);
    assert!(rows.iter().filter(|r| r.subject == "hand-written").all(Row::passed), "the real implementation passes");

    let broken: Vec<&Row> = rows.iter().filter(|r| r.subject == "unclamped").collect();
    let output_none = broken.iter().find(|r| r.variant == "none" && r.output == "output").expect("a none/output row");
    assert!(!output_none.passed());
    assert_eq!(output_none.reference.as_deref(), Some("libtorch"));
    let check = output_none.reference_check().unwrap();
    assert_eq!(check.label(), "unclamped vs libtorch");
    let comparison = check.comparison.as_ref().unwrap();
    // Inputs [0, 0, 1, 1, 1e-45, 1e-30, 0.5, 0] with targets [0, 1, 0, 1, 1, 1, 0.5, 0.5].
    // Without the clamp: 0·ln 0 is NaN at [0], [3] and [7]; ln 0 is inf at [1] and [2] where
    // libtorch gives 100; float32(1e-45) gives 103.28 at [4]. Only [5] and [6] agree.
    assert_eq!((comparison.mismatched, comparison.numel), (6, 8), "{comparison:?}");
    let worst = comparison.worst.as_ref().unwrap();
    assert_eq!(worst.index, vec![0], "the first NaN is the worst element");
    assert_eq!(worst.expected, 0.0);
    assert!(worst.actual.is_nan());
    // The fixture agrees with libtorch, so the broken side fails against it too.
    assert!(!output_none.checks.iter().find(|c| c.subject == "unclamped" && c.against == FIXTURE).unwrap().passed);
    assert!(output_none.drift_check().unwrap().passed);
    // Every reduction of the output is caught, not just `none`.
    for reduction in Reduction::ALL {
        assert!(
            broken.iter().any(|r| r.variant == reduction.name() && r.output == "output" && !r.passed()),
            "{reduction}"
        );
    }
}

/// A deliberately wrong MSE: its `mean` forgets to divide (a sum); every other op is unsupported.
fn wrong_mse() -> LossFunction<impl Fn(&LossCall) -> Option<tch_parity::Result<Tensor>> + Send + Sync> {
    LossFunction::new("wrong-mse", |call: &LossCall| match *call {
        LossCall::MseLoss { input, target, reduction } => {
            let reduction = if reduction == Reduction::Mean { Reduction::Sum } else { reduction };
            Some(reduction.apply((input - target).square()))
        }
        _ => None,
    })
}

/// A deliberately wrong MSE, whose `mean` forgets to divide (a sum): registered as another
/// implementation, compared, reported as disagreeing under `mean` only, unsupported elsewhere.
#[test]
fn a_wrong_mse_is_reported_as_disagreeing_and_other_ops_as_unsupported() {
    let wrong_mse = wrong_mse();
    let registry = Registry { subjects: vec![Box::new(wrong_mse)], references: Registry::standard_references() };
    let files = load_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/regression")).unwrap();
    let report = check(&registry, &files, &Selection::default());
    let mse: Vec<&Row> = report.rows.iter().filter(|r| r.op == "mse_loss" && r.output == "output").collect();
    assert!(!mse.is_empty());
    assert!(mse.iter().all(|r| r.subject == "wrong-mse" && r.reference.as_deref() == Some("libtorch")));
    // The seed case (four differences of −4): mean 64 where libtorch says 16; none and sum agree.
    let seed = |variant: &str| {
        mse.iter().find(|r| r.case == "seed" && r.variant == variant && r.dtype == DType::Float64).unwrap()
    };
    assert!(!seed("mean").passed() && seed("none").passed() && seed("sum").passed());
    let worst = seed("mean").reference_check().unwrap().comparison.as_ref().unwrap().worst.clone().unwrap();
    assert_eq!((worst.actual, worst.expected), (64.0, 16.0));
    let summary = report.summary();
    assert!(summary.failed > 0 && summary.unsupported > 0, "{summary:?}");
    assert!(report.rows.iter().filter(|r| r.op == "l1_loss").all(|r| r.unsupported && r.checks.is_empty()));
}

/// A case's known difference: the rows it covers pass while the subject disagrees there (the
/// deliberately wrong MSE's `mean`), and the case fails once it agrees (the hand-written MSE).
#[test]
fn a_known_difference_passes_while_it_shows_and_fails_once_it_is_gone() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/regression/mse_loss.json"))
        .unwrap()
        .replacen(
            r#""op": "mse_loss","#,
            r#""op": "mse_loss", "differences": [{"variants": ["mean"], "outputs": ["output"], "reason": "a sum"}],"#,
            1,
        );
    let file = tch_parity::fixture::parse::parse_file(Path::new("mse_loss.json"), &text).unwrap();
    let seed = |registry: &Registry| -> Vec<Row> {
        let rows = run_case(
            registry,
            "mse_loss.json",
            &file.cases[0],
            &Selection { dtypes: vec![DType::Float64], ..Default::default() },
        );
        rows.into_iter().filter(|r| r.output == "output").collect()
    };
    let wrong_mse = wrong_mse();
    let wrong = Registry { subjects: vec![Box::new(wrong_mse)], references: Registry::standard_references() };
    let rows = seed(&wrong);
    assert!(rows.iter().all(Row::passed), "{rows:?}");
    let mean = rows.iter().find(|r| r.variant == "mean").unwrap();
    assert_eq!(mean.known_difference.as_deref(), Some("a sum"));
    assert!(rows.iter().filter(|r| r.variant != "mean").all(|r| r.known_difference.is_none()));

    let rows = seed(&Registry::standard());
    let mean = rows.iter().find(|r| r.variant == "mean").unwrap();
    assert!(!mean.passed());
    assert!(mean.checks.iter().any(|c| c.message.as_deref().is_some_and(|m| m.contains("there is none"))));
}

#[test]
fn every_scheduler_has_cases_alone_and_attached_to_an_optimizer_and_its_error_cases() {
    use tch_parity::catalog::{CLIPPING, SCHEDULERS};
    let files = fixtures();
    let cases: Vec<_> = files.iter().flat_map(|f| &f.cases).collect();
    for spec in SCHEDULERS {
        let alone = cases.iter().filter(|c| c.op == spec.id && c.expected().is_some()).count();
        assert!(alone >= 3, "{} has {alone} cases with recorded values", spec.id);
        let attached = cases.iter().any(|c| {
            c.trajectory().and_then(|t| t.scheduler.as_ref()).is_some_and(|s| s["op"] == spec.id)
                && c.expected().is_some()
        });
        assert!(attached, "{} is never attached to an optimizer", spec.id);
        for invalid in spec.invalid_configs {
            let pinned = cases.iter().any(|c| c.op == spec.id && c.name == invalid.name);
            assert!(pinned, "{}'s invalid configuration {} has no case", spec.id, invalid.name);
        }
    }
    for spec in CLIPPING {
        let with_values = cases.iter().filter(|c| c.op == spec.id && c.expected().is_some()).count();
        assert!(with_values >= 5, "{} has {with_values} cases", spec.id);
    }
}
