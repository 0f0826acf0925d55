//! The checker: a parsed fixture validated against the catalogue ([`validate`]) and made
//! concrete ([`materialize`]); every implementation under test run against its live reference
//! and the recorded values ([`run`], [`optim_run`]), compared with `torch.testing.assert_close`'s
//! rule ([`compare`]); the result as a report ([`report`]).

pub mod accuracy;
pub mod calculus;
pub mod compare;
pub mod explain;
pub mod html;
pub mod layouts;
pub mod materialize;
pub mod optim_run;
pub mod report;
pub mod resume;
pub mod run;
pub mod select;
pub mod train_run;
pub mod validate;

pub use report::{Format, Report};
pub use run::{check, Check, Row};
pub use select::Selection;
pub use validate::{load_path, parse_file};
