//! The fuzzer: every loss's generator draws valid cases, runs replay exactly, agreement
//! includes both sides rejecting, and a broken implementation is found and shrunk.

use tch::Tensor;
use tch_parity::catalog::losses::find;
use tch_parity::catalog::samples::Size;
use tch_parity::catalog::{LossCall, LOSSES};
use tch_parity::check::validate::validate_case;
use tch_parity::fixture::parse::Cx;
use tch_parity::fixture::write::to_text;
use tch_parity::fixture::FixtureFile;
use tch_parity::fuzz::{self, check_loss, generate, shrink};
use tch_parity::implementation::{LossFunction, Registry};

/// Every loss has a generator (the catalogue will not compile without one); here each draws, at
/// a few sizes, cases the fixture format accepts for its op and both sides agree on.
#[test]
fn every_generator_draws_valid_cases_that_agree() {
    let registry = Registry::live();
    for spec in LOSSES {
        for (seed, size) in [(1, Size { batch: 2, classes: 3, extra: 1 }), (2, Size { batch: 1, classes: 1, extra: 0 })]
        {
            let mut case = generate(spec, seed, size);
            case.name = "drawn".into();
            validate_case(&Cx { file: "drawn.json".as_ref(), case: Some("drawn") }, &case)
                .unwrap_or_else(|e| panic!("{}: {e}", spec.id));
            check_loss(&registry, &case, spec).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        }
    }
}

#[test]
fn a_seed_replays_exactly() {
    let cross_entropy = find("cross_entropy").unwrap();
    let size = Size { batch: 3, classes: 4, extra: 2 };
    let text_of =
        |seed| to_text(&FixtureFile { path: "x.json".into(), cases: vec![generate(cross_entropy, seed, size)] });
    assert_eq!(text_of(7), text_of(7));
    assert_ne!(text_of(7), text_of(8));
    let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let registry = Registry::live();
    let (a, b) =
        (fuzz::run(&registry, 42, 150, far, &[], &mut |_| {}), fuzz::run(&registry, 42, 150, far, &[], &mut |_| {}));
    assert_eq!(a.per_op, b.per_op);
    assert_eq!(a.cases, 150);
    assert!(
        a.findings.is_empty() && b.findings.is_empty(),
        "{:?}",
        a.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
    );
}

#[test]
fn both_sides_rejecting_is_agreement_and_one_side_rejecting_is_not() {
    let bce = find("binary_cross_entropy").unwrap();
    let mut case = generate(bce, 3, Size { batch: 2, classes: 2, extra: 0 });
    // An input above 1: libtorch and the hand-written BCE both refuse it.
    case.inputs[0].1.data[0] = serde_json::json!(1.5);
    assert!(check_loss(&Registry::live(), &case, bce).is_ok());

    let stubborn = LossFunction::new("stubborn", |call: &LossCall| match call {
        LossCall::Sigmoid { .. } => Some(Err(tch_parity::Error::InvalidArgument("always".into()))),
        _ => None,
    });
    let registry = Registry { subjects: vec![Box::new(stubborn)], references: Registry::standard_references() };
    let sigmoid = find("sigmoid").unwrap();
    let case = generate(sigmoid, 3, Size { batch: 2, classes: 2, extra: 0 });
    let message = check_loss(&registry, &case, sigmoid).unwrap_err();
    assert!(message.contains("stubborn rejects"), "{message}");
}

/// Off by a factor only when the input is large: the fuzzer finds it and shrinks the case down
/// to the smallest input that still shows it.
fn wrong_for_big_inputs(call: &LossCall) -> Option<tch_parity::Result<Tensor>> {
    let LossCall::Sigmoid { input } = *call else { return None };
    let out = tch_parity::loss::sigmoid(input);
    Some(if input.numel() >= 6 { out.map(|t| t * 1.5) } else { out })
}

#[test]
fn a_broken_implementation_is_found_and_shrunk() {
    let registry = Registry {
        subjects: vec![Box::new(LossFunction::new("broken", wrong_for_big_inputs))],
        references: Registry::standard_references(),
    };
    let sigmoid = find("sigmoid").unwrap();
    let size = Size { batch: 5, classes: 6, extra: 3 };
    let seed = (0..50).find(|&s| check_loss(&registry, &generate(sigmoid, s, size), sigmoid).is_err()).expect("found");
    let small = shrink(&registry, sigmoid, seed, size);
    assert!(check_loss(&registry, &small, sigmoid).is_err(), "the shrunk case still shows the bug");
    let numel: i64 = small.inputs[0].1.shape.iter().product();
    let original: i64 = generate(sigmoid, seed, size).inputs[0].1.shape.iter().product();
    assert!(numel >= 6 && numel < original, "shrunk from {original} to {numel} elements");
}

/// MSE that is right on contiguous inputs and twice too large on any other layout.
fn layout_dependent(call: &LossCall) -> Option<tch_parity::Result<Tensor>> {
    let LossCall::MseLoss { input, target, reduction } = *call else { return None };
    let factor = if input.is_contiguous() { 1.0 } else { 2.0 };
    Some(reduction.apply((input - target).square() * factor))
}

#[test]
fn a_loss_that_depends_on_the_layout_of_its_inputs_is_found() {
    let registry = Registry {
        subjects: vec![Box::new(LossFunction::new("layout-dependent", layout_dependent))],
        references: Registry::standard_references(),
    };
    let spec = find("mse_loss").unwrap();
    let case = generate(spec, 3, Size { batch: 2, classes: 3, extra: 1 });
    let error = check_loss(&registry, &case, spec).unwrap_err();
    assert!(error.contains("on transposed inputs differs from its contiguous run"), "{error}");
}
