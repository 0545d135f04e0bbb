//! A relaxation's simplex basis, read back from HiGHS and handed to the next
//! relaxation: the next round of run-energy cuts within a plan, or the next
//! hour's plan, whose columns and rows are matched by [`Key`].
//!
//! The `highs` crate does not expose HiGHS's basis, so this module calls its
//! C API (`Highs_getBasis`, `Highs_setBasis`) through `highs-sys`: with
//! `interrupt`, the only unsafe code of the workspace.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::CString;

use highs_sys::HighsInt;

use crate::model::{Key, Model};

/// HiGHS's basis statuses (`kHighsBasisStatus…`).
const LOWER: HighsInt = 0;
const BASIC: HighsInt = 1;
const UPPER: HighsInt = 2;
const ZERO: HighsInt = 3;

/// The basis of a solved LP relaxation, by what each column and row stands
/// for. Opaque: read from one solve ([`crate::SolveStats::relaxation_basis`])
/// and handed to the next ([`crate::SolveOptions::relaxation_basis`]). Only
/// the statuses that differ from a new column's or row's are kept (a basic
/// or upper-bound column, a nonbasic row): about one entry per row, some
/// 50–100 KB for a 36-hour plan at 15 minutes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelaxationBasis {
    columns: HashMap<Key, HighsInt>,
    rows: HashMap<Key, HighsInt>,
    /// Statuses of the rows after the model's own (run-energy cuts), in order.
    cut_rows: Vec<HighsInt>,
}

impl RelaxationBasis {
    /// Statuses it holds (columns and rows).
    pub fn len(&self) -> usize {
        self.columns.len() + self.rows.len() + self.cut_rows.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The basis of a solved relaxation of `model` (its rows followed by cuts),
/// if HiGHS has a valid one.
pub(crate) fn read(model: &Model, solved: &highs::SolvedModel) -> Option<RelaxationBasis> {
    let ptr = solved.as_ptr();
    let validity = CString::new("basis_validity").ok()?;
    let mut valid: HighsInt = 0;
    // SAFETY: `ptr` is a live HiGHS instance owned by `solved`; the name is a
    // NUL-terminated string and `valid` a writable HighsInt, as the C API asks.
    let status = unsafe { highs_sys::Highs_getIntInfoValue(ptr, validity.as_ptr(), &mut valid) };
    if status != 0 || valid != 1 {
        return None;
    }
    // SAFETY: as above; both calls only read the instance.
    let (columns, rows) = unsafe {
        (
            usize::try_from(highs_sys::Highs_getNumCol(ptr)).ok()?,
            usize::try_from(highs_sys::Highs_getNumRow(ptr)).ok()?,
        )
    };
    if columns != model.column_keys.len() || rows < model.row_keys.len() {
        return None;
    }
    let mut column_status = vec![0 as HighsInt; columns];
    let mut row_status = vec![0 as HighsInt; rows];
    // SAFETY: the buffers hold exactly the instance's column and row counts,
    // which is what `Highs_getBasis` writes.
    let status = unsafe {
        highs_sys::Highs_getBasis(ptr, column_status.as_mut_ptr(), row_status.as_mut_ptr())
    };
    if status != 0 {
        return None;
    }
    let cut_rows = row_status.split_off(model.row_keys.len());
    Some(RelaxationBasis {
        columns: model
            .column_keys
            .iter()
            .copied()
            .zip(column_status)
            .filter(|&(_, status)| status == BASIC || status == UPPER)
            .collect(),
        rows: model
            .row_keys
            .iter()
            .copied()
            .zip(row_status)
            .filter(|&(_, status)| status != BASIC)
            .collect(),
        cut_rows,
    })
}

/// Hands `basis` to `highs`, a relaxation of `model` with `cuts` rows after
/// the model's own: matched columns and rows keep their status, new columns
/// start at a finite bound and new rows basic; then the count of basic
/// statuses is made the number of rows (the newest rows made basic, or the
/// newest basic columns made nonbasic), as a basis must. HiGHS replaces the
/// columns of a singular basis by slacks itself. Whether it took the basis.
pub(crate) fn apply(
    model: &Model,
    highs: &mut highs::Model,
    basis: &RelaxationBasis,
    cuts: usize,
) -> bool {
    let at_bound = |(min, max): (f64, f64)| {
        if min.is_finite() {
            LOWER
        } else if max.is_finite() {
            UPPER
        } else {
            ZERO
        }
    };
    let mut columns: Vec<HighsInt> = model
        .column_keys
        .iter()
        .zip(&model.bounds)
        .map(|(key, &bounds)| match basis.columns.get(key) {
            Some(&BASIC) => BASIC,
            Some(&UPPER) if bounds.1.is_finite() => UPPER,
            _ => at_bound(bounds),
        })
        .collect();
    let mut rows: Vec<HighsInt> = model
        .row_keys
        .iter()
        .map(|key| basis.rows.get(key).copied().unwrap_or(BASIC))
        .chain((0..cuts).map(|i| basis.cut_rows.get(i).copied().unwrap_or(BASIC)))
        .collect();
    let basic = columns.iter().chain(&rows).filter(|&&s| s == BASIC).count();
    let mut excess = basic as i64 - rows.len() as i64;
    for status in rows.iter_mut().rev() {
        if excess >= 0 {
            break;
        }
        if *status != BASIC {
            *status = BASIC;
            excess += 1;
        }
    }
    for (status, &bounds) in columns.iter_mut().zip(&model.bounds).rev() {
        if excess <= 0 {
            break;
        }
        if *status == BASIC {
            *status = at_bound(bounds);
            excess -= 1;
        }
    }
    if columns.len() != highs.num_cols() || rows.len() != highs.num_rows() {
        return false;
    }
    // SAFETY: `highs` is a live instance whose column and row counts the two
    // buffers match (checked above); HiGHS copies them.
    let status =
        unsafe { highs_sys::Highs_setBasis(highs.as_mut_ptr(), columns.as_ptr(), rows.as_ptr()) };
    status >= 0
}

/// Simplex iterations of a solved LP.
pub(crate) fn iterations(solved: &highs::SolvedModel) -> u64 {
    let Ok(name) = CString::new("simplex_iteration_count") else {
        return 0;
    };
    let mut count: HighsInt = 0;
    // SAFETY: a live instance owned by `solved`, a NUL-terminated name and a
    // writable HighsInt.
    let status =
        unsafe { highs_sys::Highs_getIntInfoValue(solved.as_ptr(), name.as_ptr(), &mut count) };
    if status != 0 {
        0
    } else {
        u64::try_from(count).unwrap_or(0)
    }
}
