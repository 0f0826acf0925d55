//! tch-parity: hand-written Rust losses and optimizers over tch tensors, and a harness that
//! checks them against libtorch's built-ins and against recorded reference fixtures.
//!
//! - [`loss`]: the hand-written losses, a library API for training with tch;
//! - [`optim`]: the hand-written optimizers, likewise;
//! - [`builtin`]: libtorch's own implementations, reached through tch;
//! - [`fixture`]: the reference-fixture format;
//! - [`harness`]: the case registry, comparison, running and reporting.

pub mod builtin;
pub mod error;
pub mod fixture;
pub mod harness;
pub mod loss;
pub mod optim;

pub use error::{Error, Result};
pub use loss::Reduction;
