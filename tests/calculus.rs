//! The check against calculus (`check --calculus`): central differences catch a gradient that
//! is wrong while its forward is right, move a point off a kink and say so, and leave out what
//! cannot be differenced rather than fail it.

use std::path::Path;
use tch::Tensor;
use tch_parity::catalog::{self, LossCall, Op};
use tch_parity::check::calculus::{self, CALCULUS};
use tch_parity::check::run::{run_case, Row};
use tch_parity::check::{load_path, Selection};
use tch_parity::fixture::{Case, DType};
use tch_parity::implementation::libtorch::Libtorch;
use tch_parity::implementation::{hand_written::HandWritten, LossFunction, Registry};
use tch_parity::Reduction;

fn case(file: &str, name: &str) -> Case {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(file);
    let files = load_path(&path).expect("the fixture loads");
    files[0].cases.iter().find(|c| c.name == name).expect("the case").clone()
}

fn rows(registry: &Registry, file: &str, case: &Case) -> Vec<Row> {
    let selection = Selection { dtypes: vec![DType::Float64], calculus: true, ..Default::default() };
    run_case(registry, file, case, &selection)
}

/// MSE with the right value and twice its gradient: L + (L − detach(L)).
fn doubled_gradient(call: &LossCall) -> Option<tch_parity::Result<Tensor>> {
    match *call {
        LossCall::MseLoss { input, target, reduction } => {
            let loss = reduction.apply((input - target).square()).ok()?;
            Some(Ok(&loss + (&loss - loss.detach())))
        }
        _ => None,
    }
}

#[test]
fn a_gradient_twice_too_large_fails_against_calculus_and_libtorch_passes() {
    let registry = Registry {
        subjects: vec![Box::new(LossFunction::new("doubled", doubled_gradient))],
        references: Registry::standard_references(),
    };
    let rows = rows(&registry, "regression/mse_loss.json", &case("regression/mse_loss.json", "moderate"));
    for reduction in Reduction::ALL {
        let row = rows.iter().find(|r| r.variant == reduction.name() && r.output == "grad.input").unwrap();
        let mine = row.checks.iter().find(|c| c.subject == "doubled" && c.against == CALCULUS).unwrap();
        let theirs = row.checks.iter().find(|c| c.subject == "libtorch" && c.against == CALCULUS).unwrap();
        assert!(!mine.passed && theirs.passed, "{reduction}: {mine:?}");
        let worst = mine.comparison.as_ref().unwrap().worst.as_ref().unwrap();
        // Central differences of the doubled loss's own forward give the true gradient.
        assert!((worst.actual / worst.expected - 2.0).abs() < 1e-6, "{worst:?}");
        // The forward is right: only gradients fail.
        let output = rows.iter().find(|r| r.variant == reduction.name() && r.output == "output").unwrap();
        assert!(output.passed());
    }
}

#[test]
fn every_check_of_the_hand_written_l1_passes_and_the_point_on_its_kink_is_moved() {
    // l1_loss/moderate has input = target = 0 at [3]: |x| has no derivative there.
    let case = case("regression/l1_loss.json", "moderate");
    let Some(Op::Loss(spec)) = catalog::find(&case.op) else { panic!("l1_loss is a loss") };
    for implementation in [&HandWritten as &dyn tch_parity::implementation::Implementation, &Libtorch] {
        let found = calculus::check(implementation, &case, spec, Reduction::Sum, 1).unwrap().unwrap();
        assert!(found.note.contains("input[3] by +1e-3") && found.note.contains("target[3]"), "{}", found.note);
        for (output, comparison) in &found.compared {
            let comparison = comparison.as_ref().unwrap();
            assert!(comparison.passed(), "{output}: {comparison:?}");
            assert_eq!(comparison.numel, 12, "every element compared, [3] at its moved place");
        }
    }
    // The gradient of sign(x − t) is 0 away from the kink; libtorch's second derivative too.
    let found = calculus::check(&HandWritten, &case, spec, Reduction::Mean, 2).unwrap().unwrap();
    assert!(found.compared.iter().all(|(_, c)| c.as_ref().unwrap().passed()), "{:?}", found.compared);
}

#[test]
fn ctc_gradients_are_compared_through_log_softmax() {
    // libtorch's CTC gradient is exp(lp) − …: the gradient with respect to the logits, which is
    // not ∂L/∂lp on the classes outside the alignment. Through log_softmax it is.
    let case = case("ctc/ctc_loss.json", "unbatched");
    let Some(Op::Loss(spec)) = catalog::find(&case.op) else { panic!("ctc_loss is a loss") };
    let found = calculus::check(&Libtorch, &case, spec, Reduction::Sum, 1).unwrap().unwrap();
    let (_, comparison) = &found.compared[0];
    let comparison = comparison.as_ref().unwrap();
    assert!(comparison.passed() && comparison.numel == 30, "{comparison:?}");
}

#[test]
fn a_case_whose_loss_is_not_finite_is_left_out_with_its_reason() {
    // log_softmax/negative-infinity: an input of −inf makes S NaN; there is nothing to difference.
    let case = case("softmax/log_softmax.json", "negative-infinity");
    let registry = Registry::standard();
    let rows = rows(&registry, "softmax/log_softmax.json", &case);
    let row = rows.iter().find(|r| r.output == "grad.input").unwrap();
    assert!(row.passed() && !row.checks.iter().any(|c| c.against == CALCULUS));
    let why = row.not_against_calculus.as_deref().unwrap();
    assert!(why.contains("NaN") || why.contains("not finite"), "{why}");
}
