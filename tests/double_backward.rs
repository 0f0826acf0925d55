//! Second derivatives, over the catalogue: for every loss case of the fixtures that has
//! gradients, in float32 and float64 and every reduction, the gradient of Σᵢ ⟨∂L/∂xᵢ, vᵢ⟩ (the
//! first gradient taken with `create_graph`, vᵢ a fixed non-uniform tensor) with respect to each
//! input that requires a gradient, computed through the hand-written loss and through libtorch's
//! op, agree at the dtype's tolerance, or both sides refuse the second backward pass.
//!
//! The hand-written losses whose gradient is written out carry it through the autograd node of
//! `ffi::with_backward`, computed from the attached inputs, so their gradient is itself
//! differentiable; autograd through the primitives does the rest.

use std::path::Path;
use tch::Tensor;
use tch_parity::catalog::{self, Op};
use tch_parity::check::compare::{compare, default_tolerance};
use tch_parity::check::{load_path, materialize};
use tch_parity::error::catch_panic;
use tch_parity::fixture::{CaseKind, DType, Outcome};
use tch_parity::implementation::{hand_written, libtorch, read, upstream_gradient};

type Compute = fn(&catalog::LossCall) -> Option<tch_parity::Result<Tensor>>;

/// The second-order gradient of each input that requires a gradient (zeros where the first
/// gradient does not depend on it), or the error of whichever backward pass refused.
fn second_order(f: Compute, call: &catalog::LossCall, leaves: &[&Tensor]) -> Option<Result<Vec<Tensor>, String>> {
    let run = || -> Option<Result<Vec<Tensor>, String>> {
        let output = match f(call)? {
            Ok(output) => output,
            Err(e) => return Some(Err(format!("forward: {e}"))),
        };
        let attempt = || -> Result<Vec<Tensor>, tch::TchError> {
            let scalar = if output.dim() == 0 {
                output.shallow_clone()
            } else {
                (&output * upstream_gradient(&output.size(), output.kind())).f_sum(output.kind())?
            };
            if !scalar.requires_grad() {
                return Ok(leaves.iter().map(|t| t.zeros_like()).collect());
            }
            let grads = Tensor::f_run_backward(&[scalar], leaves, true, true)?;
            let mut total: Option<Tensor> = None;
            for (i, g) in grads.iter().enumerate() {
                if !g.defined() || !g.requires_grad() {
                    continue;
                }
                // A different weighting per input, so that each input's part is checked.
                let v = upstream_gradient(&g.size(), g.kind()) * (i as f64 + 1.0);
                let term = (g * v).f_sum(g.kind())?;
                total = Some(match total {
                    Some(t) => t + term,
                    None => term,
                });
            }
            let zeros = || leaves.iter().map(|t| t.zeros_like()).collect();
            let Some(total) = total else { return Ok(zeros()) };
            let second = Tensor::f_run_backward(&[total], leaves, false, false)?;
            Ok(second.into_iter().zip(leaves).map(|(s, t)| if s.defined() { s } else { t.zeros_like() }).collect())
        };
        Some(attempt().map_err(|e| tch_parity::error::torch_message(&e)))
    };
    catch_panic(run).unwrap_or_else(|panic| Some(Err(panic)))
}

#[test]
fn second_derivatives_of_every_loss_match_libtorch() {
    let files = load_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")).expect("the fixtures load");
    let (mut compared, mut both_refuse, mut findings) = (0, Vec::new(), Vec::new());
    for case in files.iter().flat_map(|f| &f.cases) {
        if case.kind != CaseKind::Loss || !matches!(case.outcome, Outcome::Values(_)) {
            continue;
        }
        let Some(Op::Loss(spec)) = catalog::find(&case.op) else { continue };
        for dtype in [DType::Float32, DType::Float64].into_iter().filter(|d| case.dtypes.contains(d)) {
            for &reduction in spec.reductions() {
                let at = format!("{}/{} {dtype} {reduction}", case.op, case.name);
                // Fresh leaves per side: each backward pass accumulates nothing, but the graphs
                // must not share nodes.
                let sides: Vec<(&str, Compute)> =
                    vec![("hand-written", hand_written::compute as Compute), ("libtorch", libtorch::compute)];
                let mut results = Vec::new();
                for (_, f) in &sides {
                    let args = materialize::loss_args(case, spec, dtype).expect("the case materializes");
                    let call = (spec.bind)(&args, reduction).expect("the case binds");
                    let leaves: Vec<&Tensor> =
                        args.tensors.iter().filter(|(_, t)| t.requires_grad()).map(|(_, t)| t).collect();
                    if leaves.is_empty() {
                        break;
                    }
                    let names: Vec<String> =
                        args.tensors.iter().filter(|(_, t)| t.requires_grad()).map(|(n, _)| n.clone()).collect();
                    let result = second_order(*f, &call, &leaves)
                        .map(|r| r.map(|ts| ts.iter().map(|t| read("grad2", t).unwrap()).collect::<Vec<_>>()));
                    results.push((names, result));
                }
                let [(names, Some(hand)), (_, Some(reference))] = results.as_slice() else { continue };
                match (hand, reference) {
                    // Where libtorch has no double backward, the hand-written loss says so too.
                    (Err(mine), Err(theirs)) if mine.contains("is not implemented") => {
                        both_refuse.push(format!("{at}: {theirs}"))
                    }
                    (Err(mine), Err(_)) => findings.push(format!("{at}: both refuse, the hand-written with {mine}")),
                    (Ok(_), Err(theirs)) => findings.push(format!("{at}: libtorch refuses ({theirs}), hand computes")),
                    (Err(mine), Ok(_)) => findings.push(format!("{at}: hand refuses ({mine}), libtorch computes")),
                    (Ok(mine), Ok(theirs)) => {
                        for ((name, a), b) in names.iter().zip(mine).zip(theirs) {
                            compared += 1;
                            let c = compare(&a.values, &a.shape, &b.values, &b.shape, dtype, default_tolerance(dtype));
                            if !c.passed() {
                                findings.push(format!(
                                    "{at} grad2.{name}: {} of {} elements differ, worst at {:?}: hand {:?}, libtorch \
                                     {:?}",
                                    c.mismatched,
                                    a.values.len(),
                                    c.worst.as_ref().map(|w| &w.index),
                                    c.worst.as_ref().map(|w| w.actual),
                                    c.worst.as_ref().map(|w| w.expected),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!("{compared} second-order gradients compared; both sides refuse in {}", both_refuse.len());
    for line in &both_refuse {
        eprintln!("  both refuse: {line}");
    }
    assert!(compared > 700, "{compared} compared");
    // CTC, multi-margin and multilabel margin: libtorch 2.13 has no derivative of their backward.
    let refusing: std::collections::BTreeSet<&str> =
        both_refuse.iter().map(|line| line.split('/').next().unwrap()).collect();
    assert_eq!(refusing.into_iter().collect::<Vec<_>>(), ["ctc_loss", "multi_margin_loss", "multilabel_margin_loss"]);
    assert!(findings.is_empty(), "{} findings:\n{}", findings.len(), findings.join("\n"));
}
