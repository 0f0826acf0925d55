//! Recording: `regen` runs the live references on the fixtures' inputs and writes their values
//! back, atomically and byte-for-byte reproducibly, saying per case what changed.

pub mod regen;

pub use regen::{regen_file, regenerate, CaseChange, FileResult, RegenProblem};
