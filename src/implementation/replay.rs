//! A run computed elsewhere, stepped through as if it were computed here: PyTorch's optimizer
//! trajectories, live from Python or as a fixture recorded them. It is a [`Stepper`] like any
//! other, so the checker compares it in lockstep and free-running the same way.

use crate::error::{invalid, Result};
use crate::optim::Stepper;
use tch::{Kind, Tensor};

/// One recorded series, borrowed from where it is kept (a fixture, Python's answer): a label
/// ("param.x", "exp_avg.x", "grad.x"), its shape (steps first) and its values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Series<'a> {
    pub label: &'a str,
    pub shape: &'a [i64],
    pub values: &'a [f64],
}

/// A recorded run: the starting parameters, then after every step each parameter, each of its
/// buffers and (when recorded) the gradient it followed.
pub struct Replay {
    names: Vec<String>,
    /// Per step (0 = the start), per parameter.
    params: Vec<Vec<Tensor>>,
    /// Per step (1 = after the first), per parameter, its buffers by name.
    buffers: Vec<Vec<Vec<(String, Tensor)>>>,
    /// Per step (1 = the first), the gradients followed, when recorded.
    grads: Vec<Option<Vec<Tensor>>>,
    at: usize,
}

impl Replay {
    /// The replay of `series` over `steps` steps from `initial` (one per name in `names`),
    /// each tensor of `kind`. Every `param.<name>` must be recorded at every step;
    /// `<buffer>.<name>` and `grad.<name>` series are taken where present. A buffer recorded for
    /// fewer steps is one whose state began later (the first steps skipped by a GradScaler):
    /// its values are the last steps'.
    pub fn new(names: &[&str], initial: &[Tensor], series: &[Series], steps: usize, kind: Kind) -> Result<Replay> {
        // Each series becomes one tensor, then a view per step, the last `recorded` steps.
        let per_step = |s: &Series, whole: bool| -> Result<Vec<(usize, Tensor)>> {
            let recorded = s.shape.first().copied().unwrap_or(0).max(0) as usize;
            if recorded < steps && (whole || recorded == 0) {
                return invalid!("the recording of {} has {recorded} steps, not {steps}", s.label);
            }
            let kept = recorded.min(steps);
            let all = Tensor::from_slice(s.values).f_reshape(s.shape)?.f_to_kind(kind)?;
            (0..kept).map(|k| Ok((steps - kept + k, all.f_select(0, k as i64)?))).collect()
        };
        let mut params = vec![initial.iter().map(Tensor::detach).collect::<Vec<_>>()];
        params.extend((0..steps).map(|_| Vec::new()));
        let mut buffers: Vec<Vec<Vec<(String, Tensor)>>> =
            (0..=steps).map(|_| names.iter().map(|_| Vec::new()).collect()).collect();
        let mut grads: Vec<Vec<Tensor>> = (0..=steps).map(|_| Vec::new()).collect();
        for name in names {
            let Some(p) = series.iter().find(|s| s.label == format!("param.{name}")) else {
                return invalid!("the recording has no param.{name}");
            };
            for (k, t) in per_step(p, true)? {
                params[k + 1].push(t);
            }
        }
        for s in series {
            let Some((buffer, name)) = s.label.rsplit_once('.') else { continue };
            let Some(i) = names.iter().position(|n| *n == name) else { continue };
            match buffer {
                "param" => {}
                "grad" => {
                    for (k, t) in per_step(s, true)? {
                        grads[k + 1].push(t);
                    }
                }
                _ => {
                    for (k, t) in per_step(s, false)? {
                        buffers[k + 1][i].push((buffer.to_owned(), t));
                    }
                }
            }
        }
        let grads = grads.into_iter().map(|g| (g.len() == names.len()).then_some(g)).collect();
        Ok(Replay { names: names.iter().map(|n| (*n).to_owned()).collect(), params, buffers, grads, at: 0 })
    }
}

impl Stepper for Replay {
    /// Moves to the next recorded step; the gradients given are not used (the recording
    /// followed its own).
    fn step(&mut self, _: &[Tensor]) -> Result<()> {
        if self.at + 1 >= self.params.len() {
            return invalid!("the recording ends after {} steps", self.at);
        }
        self.at += 1;
        Ok(())
    }

    /// The recording already holds the learning-rate changes it was run with.
    fn set_lr(&mut self, _: f64) -> Result<()> {
        Ok(())
    }

    fn params(&self) -> Vec<Tensor> {
        self.params[self.at].iter().map(Tensor::shallow_clone).collect()
    }

    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>> {
        if index >= self.names.len() {
            return invalid!("there is no parameter {index}");
        }
        Ok(self.buffers[self.at]
            .get(index)
            .map(|b| b.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect())
            .unwrap_or_default())
    }

    fn replays_a_recording(&self) -> bool {
        true
    }

    fn recorded_gradients(&self, step: usize) -> Option<Vec<Tensor>> {
        self.grads.get(step)?.as_ref().map(|g| g.iter().map(Tensor::shallow_clone).collect())
    }
}
