//! The libtorch side: the only module that calls tch's loss and optimizer built-ins.
//! Every call goes through tch's fallible `f_` twin, so a C++ exception becomes an `Err`.

pub mod loss;
pub mod optim;
pub mod shim;
