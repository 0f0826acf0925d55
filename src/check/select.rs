//! Which cases a command runs.

use crate::fixture::{Case, DType};

#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Each filter selects the cases whose op id equals it, whose name contains it, or whose
    /// `op/name` equals it. No filter selects every case.
    pub filters: Vec<String>,
    /// Only these dtypes; empty means all.
    pub dtypes: Vec<DType>,
    /// Also check every float64 gradient, first and second order, against central differences
    /// ([`super::calculus`]): `check --calculus`, which CI runs.
    pub calculus: bool,
    /// Also run every loss case with its inputs transposed, strided and expanded
    /// ([`super::layouts`]): `check --layouts`, which CI runs.
    pub layouts: bool,
}

impl Selection {
    pub fn selects(&self, case: &Case) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|f| *f == case.op || case.name.contains(f.as_str()) || *f == format!("{}/{}", case.op, case.name))
    }

    pub fn dtypes(&self) -> Vec<DType> {
        if self.dtypes.is_empty() {
            DType::ALL.to_vec()
        } else {
            self.dtypes.clone()
        }
    }
}
