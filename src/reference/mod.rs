//! The references: what the hand-written side is checked against, computed without any of its
//! code. libtorch's built-in losses and optimizers through tch and the shim ([`loss`],
//! [`optim`]), and PyTorch itself in Python for the functions libtorch has no op for
//! ([`python`]).

pub mod loss;
pub mod optim;
pub mod python;

/// The libtorch this binary was built against (from torch's own version file, at build time).
pub const LIBTORCH_VERSION: &str = env!("TCH_PARITY_LIBTORCH_VERSION");
