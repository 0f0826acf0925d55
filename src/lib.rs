//! tch-parity: hand-written Rust losses and optimizers over tch tensors, and a checker that
//! compares them (or anyone's implementation) with libtorch's built-ins, with PyTorch itself and
//! with recorded reference fixtures.
//!
//! The layers, each depending only on those above it in this list:
//!
//! - [`error`], [`dtype`], [`mod@options`]: the error type, dtypes, typed options (the vocabulary);
//! - [`ffi`]: the C++ shim, for what tch does not expose;
//! - [`loss`], [`optim`]: the hand-written library, for training with tch;
//! - [`mod@reference`]: libtorch's losses and optimizers, and PyTorch in Python;
//! - [`catalog`]: one spec per loss and optimizer: inputs, typed options, sample and error
//!   generators;
//! - [`implementation`]: everything that computes an op, as a thing the checker compares;
//! - [`fixture`]: the reference-fixture format, pure data;
//! - [`check`]: validation, running, comparison and reports;
//! - [`record`]: regenerating the fixtures;
//! - [`fuzz`]: seeded random cases from the catalogue's generators;
//! - [`conformance`]: anyone's implementation (a user's, candle's, burn's) in plain data, checked
//!   the same way.

pub mod catalog;
pub mod check;
pub mod conformance;
pub mod dtype;
pub mod error;
pub mod ffi;
pub mod fixture;
pub mod fuzz;
pub mod implementation;
pub mod loss;
pub mod optim;
pub mod options;
pub mod record;
pub mod reference;
pub mod train;

pub use error::{Error, Result};
pub use loss::Reduction;

/// The README's examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
