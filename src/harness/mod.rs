//! The parity harness: the case registry, comparison maths and tolerance policy, the runner
//! and the reports.

pub mod compare;
pub mod fuzz;
pub mod objectives;
pub mod optim_run;
pub mod optimizers;
pub mod registry;
pub mod report;
pub mod run;
pub mod select;
