//! The objectives' direct gradients (`ObjectiveInfo::gradient`) are autograd's, bit for bit: in
//! every dtype, at the parameters of every step the fixtures recorded (converging, diverging,
//! overflowing runs alike), and at drawn and extreme points (±0, ±inf, NaN, values whose square
//! overflows float16). Where a direct gradient declines (a layout autograd differentiates along
//! another path), `gradients` still gives autograd's.

use std::path::Path;
use tch::{Kind, Tensor};
use tch_parity::catalog::objectives::{self, ObjectiveInfo, OBJECTIVES};
use tch_parity::catalog::rng::Rng;
use tch_parity::catalog::{self, Op};
use tch_parity::check::{load_path, optim_run};
use tch_parity::fixture::DType;

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).contiguous().view([-1])).unwrap()
}

/// Whether two gradients are the same bits: shape, dtype, every element (any NaN equals any NaN).
fn same(a: &Tensor, b: &Tensor) -> bool {
    a.size() == b.size()
        && a.kind() == b.kind()
        && values(a).iter().zip(values(b)).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

/// Compares the direct gradient with autograd's at `params`; `Err` describes a difference.
fn agrees(objective: &ObjectiveInfo, params: &[Tensor], data: &[Tensor]) -> Result<(), String> {
    let direct = tch::no_grad(|| (objective.gradient.unwrap())(params, data)).unwrap();
    let Some(direct) = direct else { return Err(format!("{}: declined", objective.id)) };
    let autograd = objectives::autograd_gradients(objective, params, data).unwrap();
    if direct.len() == autograd.len() && direct.iter().zip(&autograd).all(|(a, b)| same(a, b)) {
        return Ok(());
    }
    let show = |ts: &[Tensor]| ts.iter().map(values).collect::<Vec<_>>();
    Err(format!("{} at {:?}: direct {:?}, autograd {:?}", objective.id, show(params), show(&direct), show(&autograd)))
}

#[test]
fn direct_gradients_equal_autograd_along_every_recorded_trajectory() {
    let files = load_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")).unwrap();
    let (mut points, mut failures) = (0, Vec::new());
    let mut covered = std::collections::BTreeSet::new();
    for case in files.iter().flat_map(|f| &f.cases) {
        let Some(Op::Optimizer(spec)) = catalog::find(&case.op) else { continue };
        for &dtype in &case.dtypes {
            let Ok(setup) = optim_run::setup(case, spec, dtype) else { continue };
            if setup.objective.gradient.is_none() {
                continue;
            }
            let Some((_, recorded)) = setup.recorded.iter().find(|(variant, _)| variant == "trajectory") else {
                continue;
            };
            let series: Vec<_> = setup
                .objective
                .params
                .iter()
                .map(|name| recorded.iter().find(|(label, _)| *label == format!("param.{name}")).map(|(_, t)| t))
                .collect::<Option<_>>()
                .unwrap_or_default();
            if series.len() != setup.params.len() {
                continue;
            }
            // The starting point, then every fifth recorded step (the steps between add little but
            // time: the same arithmetic at nearby values).
            let steps = setup.trajectory.steps;
            let at_step = |k: usize| -> Vec<Tensor> {
                series
                    .iter()
                    .zip(&setup.params)
                    .map(|(t, p)| {
                        let per = t.values.len() / steps.max(1);
                        Tensor::from_slice(&t.values[k * per..(k + 1) * per])
                            .view(p.size().as_slice())
                            .to_kind(p.kind())
                    })
                    .collect()
            };
            let mut check = |params: &[Tensor]| {
                points += 1;
                if let Err(e) = agrees(setup.objective, params, &setup.data) {
                    failures.push(format!("{}/{} {dtype}: {e}", case.op, case.name));
                }
            };
            check(&setup.params);
            for k in (0..steps).step_by(5) {
                check(&at_step(k));
            }
            covered.insert((setup.objective.id, dtype));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {points} points differ:\n{}",
        failures.len(),
        failures[..5.min(failures.len())].join("\n")
    );
    // Every objective with a direct gradient, in every dtype, is among the points.
    for objective in OBJECTIVES.iter().filter(|o| o.gradient.is_some()) {
        for dtype in DType::ALL {
            assert!(covered.contains(&(objective.id, dtype)), "{} in {dtype} never checked", objective.id);
        }
    }
    assert!(points > 4000, "{points} points");
}

/// Drawn points, and points where the arithmetic is at its edges, in every dtype.
#[test]
fn direct_gradients_equal_autograd_at_drawn_and_extreme_points() {
    let specials = [0.0, -0.0, 1.0, -1.0, 1e-30, 300.0, 7e4, -3e38, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
    let mut rng = Rng::new(20261130);
    let mut failures = Vec::new();
    for objective in OBJECTIVES.iter().filter(|o| o.gradient.is_some()) {
        let shapes: &[&[i64]] = match objective.id {
            "l1" => &[&[2, 2], &[2, 2]],
            "rosenbrock" => &[&[2]],
            "least_squares" => &[&[3], &[1], &[6, 3], &[6]],
            "linear_net" => &[&[3, 2], &[2, 2], &[4, 3], &[4, 2]],
            "linear_net_with_empty" => &[&[3, 2], &[2, 2], &[0, 2], &[4, 3], &[4, 2]],
            other => panic!("no shapes for {other}: add them here"),
        };
        for dtype in DType::ALL {
            for draw in 0..60 {
                let tensor = |shape: &[i64], rng: &mut Rng| {
                    let n: i64 = shape.iter().product();
                    let v: Vec<f64> =
                        (0..n)
                            .map(|_| {
                                if draw < 20 || !rng.chance(0.3) {
                                    rng.uniform(-3.0, 3.0)
                                } else {
                                    rng.pick(&specials)
                                }
                            })
                            .collect();
                    Tensor::from_slice(&v).view(shape).to_kind(dtype.kind())
                };
                let all: Vec<Tensor> = shapes.iter().map(|s| tensor(s, &mut rng)).collect();
                let (params, data) = all.split_at(objective.params.len());
                if let Err(e) = agrees(objective, params, data) {
                    failures.push(format!("{dtype}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} points differ:\n{}", failures.len(), failures[..5.min(failures.len())].join("\n"));
}

/// A weight matrix laid out column by column: autograd's `mm` backward takes another path there,
/// so the direct gradient declines and `gradients` gives autograd's.
#[test]
fn a_column_major_weight_is_left_to_autograd() {
    let objective = objectives::find("linear_net").unwrap();
    let w1 = Tensor::from_slice(&[0.3f32, -1.1, 0.7, 2.0, -0.4, 0.9]).view([2, 3]).tr();
    let w2 = Tensor::from_slice(&[1.5f32, -0.25, 0.1, 0.8]).view([2, 2]);
    let a = Tensor::from_slice(&[0.5f32, 1.0, -2.0, 0.25, 3.0, -1.0, 0.75, 0.125, 2.5, -0.5, 1.25, -3.0]).view([4, 3]);
    let y = Tensor::from_slice(&[1.0f32, 0.0, -1.0, 2.0, 0.5, -0.5, 3.0, 1.0]).view([4, 2]);
    let (params, data) = ([w1, w2], [a, y]);
    assert!(tch::no_grad(|| (objective.gradient.unwrap())(&params, &data)).unwrap().is_none());
    let given = objectives::gradients(objective, &params, &data).unwrap();
    let autograd = objectives::autograd_gradients(objective, &params, &data).unwrap();
    assert!(given.iter().zip(&autograd).all(|(a, b)| same(a, b)));
    // And row-major, the direct gradient applies.
    let contiguous: Vec<Tensor> = params.iter().map(Tensor::contiguous).collect();
    agrees(objective, &contiguous, &data).unwrap();
}
