//! Schedules whose values follow from their definitions (the fixtures hold PyTorch's own).

use super::*;
use crate::train::Rates;
use approx::assert_relative_eq;

fn one_group(lr: f64) -> Rates {
    Rates::new(vec![lr], None)
}

/// The rate after construction and after each of `steps` steps.
fn rates(groups: &mut Rates, scheduler: &mut dyn LrScheduler, steps: usize) -> Vec<f64> {
    let mut seen = vec![groups.lrs[0]];
    for _ in 0..steps {
        scheduler.step(groups).unwrap();
        seen.push(groups.lrs[0]);
    }
    seen
}

#[test]
fn cosine_annealing_reaches_eta_min_at_t_max_and_comes_back() {
    let mut g = one_group(1.0);
    let mut s = CosineAnnealingLR::new(&mut g, CosineAnnealingLROptions { t_max: 10, eta_min: 0.1 }).unwrap();
    let seen = rates(&mut g, &mut s, 20);
    assert_relative_eq!(seen[5], 0.55, max_relative = 1e-12);
    assert_relative_eq!(seen[10], 0.1, max_relative = 1e-12);
    assert_relative_eq!(seen[20], 1.0, max_relative = 1e-12);
}

#[test]
fn linear_warmup_goes_from_start_factor_to_end_factor() {
    let mut g = one_group(0.5);
    let mut s = LinearLR::new(&mut g, LinearLROptions { start_factor: 0.2, end_factor: 1.0, total_iters: 4 }).unwrap();
    let seen = rates(&mut g, &mut s, 6);
    for (k, expected) in [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5].iter().enumerate() {
        assert_relative_eq!(seen[k], *expected, max_relative = 1e-12);
    }
}

#[test]
fn step_to_takes_the_closed_form() {
    let mut g = one_group(1.0);
    let mut s = ExponentialLR::new(&mut g, ExponentialLROptions { gamma: 0.5 }).unwrap();
    s.step_to(&mut g, 3.0).unwrap();
    assert_eq!(g.lrs[0], 0.125);
    assert!(s.step_to(&mut g, 2.5).is_err(), "only warm restarts take fractional epochs");
}

#[test]
fn one_cycle_starts_low_peaks_at_max_lr_and_ends_far_below() {
    let mut g = Rates::new(vec![0.0], Some(vec![0.0]));
    let o = OneCycleLROptions { pct_start: 0.25, ..OneCycleLROptions::new(1.0, 100) };
    let mut s = OneCycleLR::new(&mut g, o).unwrap();
    assert_relative_eq!(g.lrs[0], 1.0 / 25.0, max_relative = 1e-12);
    assert_eq!(g.momentums.as_ref().unwrap()[0], 0.95);
    let seen = rates(&mut g, &mut s, 99);
    // The rise ends at step pct_start·total − 1 = 24, the fall at total − 1 = 99.
    assert_relative_eq!(seen[24], 1.0, max_relative = 1e-12);
    assert_eq!(g.momentums.as_ref().unwrap()[0], 0.95);
    assert_relative_eq!(seen[99], 1.0 / 25.0 / 1e4, max_relative = 1e-9);
    // Step total_steps is still allowed (torch counts the one construction takes); the next is not.
    s.step(&mut g).unwrap();
    assert!(s.step(&mut g).is_err(), "a step past total_steps is an error");
}

#[test]
fn cyclic_triangle_and_momentum_against_it() {
    let mut g = Rates::new(vec![0.0], Some(vec![0.0]));
    let o = CyclicLROptions { step_size_up: 4, ..CyclicLROptions::new(0.1, 0.5) };
    let mut s = CyclicLR::new(&mut g, o).unwrap();
    let seen = rates(&mut g, &mut s, 8);
    for (k, expected) in [0.1, 0.2, 0.3, 0.4, 0.5, 0.4, 0.3, 0.2, 0.1].iter().enumerate() {
        assert_relative_eq!(seen[k], *expected, max_relative = 1e-12);
    }
    // At the peak the momentum is at its base.
    let mut g2 = Rates::new(vec![0.0], Some(vec![0.0]));
    let mut s2 = CyclicLR::new(&mut g2, CyclicLROptions { step_size_up: 4, ..CyclicLROptions::new(0.1, 0.5) }).unwrap();
    for _ in 0..4 {
        s2.step(&mut g2).unwrap();
    }
    assert_relative_eq!(g2.momentums.unwrap()[0], 0.8, max_relative = 1e-12);
}

#[test]
fn cycling_momentum_needs_an_optimizer_with_momentum() {
    let mut g = one_group(0.1);
    let error = CyclicLR::new(&mut g, CyclicLROptions::new(0.01, 0.1)).err().unwrap();
    assert!(error.to_string().contains("optimizer must support momentum or beta1"));
}

#[test]
fn plateau_waits_patience_then_cools_down() {
    let mut g = one_group(1.0);
    let o = ReduceLROnPlateauOptions { patience: 2, cooldown: 1, factor: 0.5, ..Default::default() };
    let mut s = ReduceLROnPlateau::new(&g, o).unwrap();
    let mut seen = vec![];
    for metric in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] {
        s.step(&mut g, metric).unwrap();
        seen.push(g.lrs[0]);
    }
    // Epoch 1 sets the best; 2, 3 are bad; 4 is the third bad one: halved; 5 is cooldown.
    assert_eq!(seen, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]);
}

#[test]
fn sequential_switches_at_the_milestone_and_restarts_the_next_from_epoch_0() {
    let mut g = one_group(1.0);
    let warmup = LinearLR::new(&mut g, LinearLROptions { start_factor: 0.5, end_factor: 1.0, total_iters: 2 }).unwrap();
    let decay = ExponentialLR::new(&mut g, ExponentialLROptions { gamma: 0.5 }).unwrap();
    let mut s = SequentialLR::new(&mut g, vec![Box::new(warmup), Box::new(decay)], vec![3]).unwrap();
    let seen = rates(&mut g, &mut s, 5);
    assert_eq!(seen, [0.5, 0.75, 1.0, 1.0, 0.5, 0.25]);
}

#[test]
fn chained_multiplies_both_factors() {
    let mut g = one_group(1.0);
    let a = ConstantLR::new(&mut g, ConstantLROptions { factor: 0.5, total_iters: 2 }).unwrap();
    let b = ExponentialLR::new(&mut g, ExponentialLROptions { gamma: 0.5 }).unwrap();
    let mut s = ChainedScheduler::new(&g, vec![Box::new(a), Box::new(b)]).unwrap();
    let seen = rates(&mut g, &mut s, 3);
    assert_eq!(seen, [0.5, 0.25, 0.25, 0.125]);
}

#[test]
fn warm_restarts_double_the_period() {
    let mut g = one_group(1.0);
    let o = CosineAnnealingWarmRestartsOptions { t_0: 2, t_mult: 2, eta_min: 0.0 };
    let mut s = CosineAnnealingWarmRestarts::new(&mut g, o).unwrap();
    let seen = rates(&mut g, &mut s, 6);
    // Periods of 2, then 4: restarts (rate 1) at epochs 0, 2 and 6.
    assert_eq!(seen[0], 1.0);
    assert_eq!(seen[2], 1.0);
    assert_eq!(seen[6], 1.0);
    assert_relative_eq!(seen[4], 0.5, max_relative = 1e-12);
    s.step_to(&mut g, 1.0).unwrap();
    assert_relative_eq!(g.lrs[0], 0.5, max_relative = 1e-12);
}
