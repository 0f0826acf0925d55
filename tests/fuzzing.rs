//! The fuzzer: every loss is drawn, runs replay exactly, agreement includes both sides
//! rejecting, and a broken implementation is found and shrunk.

use tch::Tensor;
use tch_parity::fixture::write::to_text;
use tch_parity::fixture::FixtureFile;
use tch_parity::harness::fuzz::{self, check_loss, generate_loss, shrink, Rng, Size};
use tch_parity::harness::registry::{self, Args, LossInfo, LOSSES};
use tch_parity::Reduction;

#[test]
fn every_registered_loss_is_drawn() {
    for info in LOSSES {
        assert!(fuzz::draws(info.id), "{} has no generator", info.id);
    }
}

#[test]
fn a_seed_replays_exactly() {
    let text_of = |seed| {
        let case =
            generate_loss("cross_entropy", &mut Rng::new(seed), Size { batch: 3, classes: 4, extra: 2 }).unwrap();
        to_text(&FixtureFile { path: "x.json".into(), cases: vec![case] })
    };
    assert_eq!(text_of(7), text_of(7));
    assert_ne!(text_of(7), text_of(8));
    let far = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (a, b) = (fuzz::run(42, 150, far, &[]), fuzz::run(42, 150, far, &[]));
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
    let info = registry::find("binary_cross_entropy").unwrap();
    let mut case = generate_loss(info.id, &mut Rng::new(3), Size { batch: 2, classes: 2, extra: 0 }).unwrap();
    // An input above 1: libtorch and the hand-written BCE both refuse it.
    case.inputs[0].1.data[0] = serde_json::json!(1.5);
    assert!(check_loss(&case, info).is_ok());
    fn refuses(_: &Args, _: Reduction) -> tch_parity::Result<Tensor> {
        Err(tch_parity::Error::InvalidArgument("always".into()))
    }
    let sigmoid = registry::find("sigmoid").unwrap();
    let stubborn = LossInfo { hand_written: refuses, ..*sigmoid };
    let case = generate_loss("sigmoid", &mut Rng::new(3), Size { batch: 2, classes: 2, extra: 0 }).unwrap();
    let message = check_loss(&case, &stubborn).unwrap_err();
    assert!(message.contains("the hand-written side rejects"), "{message}");
}

/// Off by a factor in one element's gradient only when the batch is large: the fuzzer finds it
/// and shrinks the case down to the smallest batch that still shows it.
fn wrong_for_big_batches(args: &Args, r: Reduction) -> tch_parity::Result<Tensor> {
    let x = args.tensor("input")?;
    let out = tch_parity::loss::sigmoid(x)?;
    if x.numel() >= 6 {
        return Ok(out * 1.5);
    }
    let _ = r;
    Ok(out)
}

#[test]
fn a_broken_implementation_is_found_and_shrunk() {
    let sigmoid = registry::find("sigmoid").unwrap();
    let broken = LossInfo { hand_written: wrong_for_big_batches, ..*sigmoid };
    let size = Size { batch: 5, classes: 6, extra: 3 };
    let seed = (0..50)
        .find(|&s| generate_loss("sigmoid", &mut Rng::new(s), size).is_some_and(|c| check_loss(&c, &broken).is_err()))
        .expect("found");
    let small = shrink("sigmoid", seed, size, &broken);
    assert!(check_loss(&small, &broken).is_err(), "the shrunk case still shows the bug");
    let numel: i64 = small.inputs[0].1.shape.iter().product();
    let original: i64 = generate_loss("sigmoid", &mut Rng::new(seed), size).unwrap().inputs[0].1.shape.iter().product();
    assert!(numel >= 6 && numel < original, "shrunk from {original} to {numel} elements");
}
