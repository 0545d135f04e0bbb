//! Stops a MIP early through HiGHS's interrupt callback, in two cases.
//!
//! Relax-and-fix's fixed MIP, once it has a plan better than its start and
//! can no longer prove one within the gap of the relaxation's bound
//! ([`stop_when_unprovable`]); and the full search, once its plan is within
//! the gap of a bound proven outside it ([`stop_when_proven`]: the
//! relaxation's with its run-energy cuts, or the branching's on where jobs
//! run), which HiGHS's own bound may not reach for a long time.
//!
//! When the full search follows, the fixed MIP is there for its plan: the
//! full search starts from it. Its proof that the plan is the best within
//! its fixings is wasted when that best is further from the relaxation's
//! bound than the gap (corpus-2-038: 946 nodes and 2.2 s proving a plan 4%
//! above the optimum). Its plan is not: from the rounded relaxation instead
//! (corpus-2-002: 11% above the optimum, against 0.6% for the fixed MIP's
//! plan) the full search took 1,001 nodes where it needed one. So the fixed
//! MIP stops at the first point where all three hold: its dual bound is past
//! the cutoff (no plan within its fixings can be proven by the relaxation's
//! bound), its incumbent is better than the one it started from, and either
//! that incumbent is within [`OWN_GAP`] of the fixed MIP's own bound or that
//! bound is more than [`super::WRONG_FIXINGS`] above the relaxation's. In the
//! second case the fixings themselves are wrong: no plan within them comes
//! near the optimum, and the rest of the fixed MIP's share is better spent
//! by the full search (corpus-4-028: 18 s of a 60 s limit on fixings whose
//! bound was 56% above the relaxation's, 378.16 at best against the optimum
//! 172.995).
//!
//! The `highs` crate does not expose HiGHS's callbacks, so this module sets
//! one through its C API (`Highs_setCallback`); with `basis`, the only unsafe
//! code of the workspace.
#![allow(unsafe_code)]

use std::os::raw::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

use highs_sys::{HighsCallbackDataIn, HighsCallbackDataOut};

/// The fixed MIP's own gap (between its plan and its bound within the
/// fixings) below which it may stop. Stopping at the first better plan
/// whatever its gap made `perfect`'s 61 windows of DE-LU May–June 2024 take
/// 70.2–70.5 s against 62.3–63.8 s: their full search gained from the fixed
/// MIP's nearly proven plan. At 0.3% they took 61.4 s.
const OWN_GAP: f64 = 0.003;

/// What the callback compares, alive for as long as the instance may call it.
pub(super) struct Stop {
    when: When,
}

/// The condition of a [`Stop`].
enum When {
    /// The fixed MIP's: no plan whose objective is above `cutoff` can be
    /// proven optimal by the relaxation's `bound`; `first` is the
    /// incumbent's objective at the first call (the start's), as bits.
    Unprovable {
        bound: f64,
        cutoff: f64,
        first: AtomicU64,
    },
    /// The full search's: a plan within `gap` of `bound` (a lower bound on
    /// every plan's objective, proven outside the search) is optimal.
    Proven { bound: f64, gap: f64 },
}

/// Registers the callback on `highs`; the returned [`Stop`] must outlive the
/// solve (and every later use of the instance), or be unregistered with
/// [`clear`] first. `None` if HiGHS refused it (the solve then runs in full).
/// `bound` is the relaxation's, `gap` the relative MIP gap asked for.
pub(super) fn stop_when_unprovable(
    highs: &mut highs::Model,
    bound: f64,
    gap: f64,
) -> Option<Box<Stop>> {
    register(
        highs,
        When::Unprovable {
            bound,
            cutoff: bound + gap * bound.abs(),
            first: AtomicU64::new(f64::NAN.to_bits()),
        },
    )
}

/// Registers the callback that stops the search once its incumbent is
/// within `gap` of `bound` (as [`super::relative_gap`] measures it); the
/// same terms as [`stop_when_unprovable`].
pub(super) fn stop_when_proven(
    highs: &mut highs::Model,
    bound: f64,
    gap: f64,
) -> Option<Box<Stop>> {
    register(highs, When::Proven { bound, gap })
}

fn register(highs: &mut highs::Model, when: When) -> Option<Box<Stop>> {
    let stop = Box::new(Stop { when });
    let ptr = highs.as_mut_ptr();
    let data = std::ptr::from_ref::<Stop>(&stop)
        .cast_mut()
        .cast::<c_void>();
    // SAFETY: `ptr` is a live HiGHS instance owned by `highs`; the callback
    // has the C signature HiGHS expects, and `data` points to a `Stop` on the
    // heap that the caller keeps alive while the instance can call back.
    let set = unsafe { highs_sys::Highs_setCallback(ptr, Some(on_callback), data) };
    // SAFETY: as above; starting a callback type only sets a flag.
    let started =
        unsafe { highs_sys::Highs_startCallback(ptr, highs_sys::kHighsCallbackMipInterrupt) };
    (set == highs_sys::kHighsStatusOk && started == highs_sys::kHighsStatusOk).then_some(stop)
}

/// Unregisters the callback of a solved instance, so that it never reads a
/// [`Stop`] that is gone.
pub(super) fn clear(solved: &mut highs::SolvedModel) {
    // SAFETY: `solved` owns a live HiGHS instance; a null callback and data
    // unregister it.
    unsafe {
        highs_sys::Highs_setCallback(solved.as_mut_ptr(), None, std::ptr::null_mut());
    }
}

/// HiGHS's callback: asks for an interrupt once the [`Stop`]'s condition
/// holds (see [`When`]).
unsafe extern "C" fn on_callback(
    callback_type: c_int,
    _message: *const c_char,
    data_out: *const HighsCallbackDataOut,
    data_in: *mut HighsCallbackDataIn,
    user: *mut c_void,
) {
    if callback_type != highs_sys::kHighsCallbackMipInterrupt
        || data_out.is_null()
        || data_in.is_null()
        || user.is_null()
    {
        return;
    }
    // SAFETY: `user` is the `Stop` registered with this callback, alive while
    // the instance solves; `data_out` and `data_in` are HiGHS's, valid for
    // this call.
    let (stop, out) = unsafe { (&*user.cast::<Stop>(), &*data_out) };
    let primal = out.mip_primal_bound;
    let interrupt = match &stop.when {
        // No incumbent yet: the primal bound is infinite, and no gap is met.
        When::Proven { bound, gap } => {
            primal.is_finite() && super::relative_gap(primal, *bound) <= *gap
        }
        When::Unprovable {
            bound,
            cutoff,
            first,
        } => {
            let seen = f64::from_bits(first.load(Ordering::Relaxed));
            if seen.is_nan() {
                first.store(primal.to_bits(), Ordering::Relaxed);
                return;
            }
            let improved = primal < seen - 1e-9 * (1.0 + seen.abs());
            improved && fixed_mip_done(*bound, *cutoff, out.mip_dual_bound, out.mip_gap)
        }
    };
    if interrupt {
        // SAFETY: as above; HiGHS reads the flag after the call.
        unsafe { (*data_in).user_interrupt = 1 };
    }
}

/// Whether a fixed MIP that has bettered its start has nothing more to give
/// the full search: no plan within its fixings can be proven (its dual
/// bound `dual` is past `cutoff`), and either its plan is within
/// [`OWN_GAP`] of that bound (its `own_gap`) or the bound is more than
/// [`super::WRONG_FIXINGS`] above the relaxation's `bound`.
fn fixed_mip_done(bound: f64, cutoff: f64, dual: f64, own_gap: f64) -> bool {
    dual > cutoff && (own_gap <= OWN_GAP || super::relative_gap(dual, bound) > super::WRONG_FIXINGS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// corpus-4-028's fixed MIP: the relaxation's bound 152.63, its own
    /// bound 348.34 and plan 378.16 (7.9% apart) after 18 s.
    #[test]
    fn a_fixed_mip_whose_fixings_are_wrong_is_done_at_any_gap_of_its_own() {
        let (bound, cutoff) = (152.63, 152.63 * (1.0 + 1e-4));
        assert!(fixed_mip_done(bound, cutoff, 348.34, 0.079));
        // Bounds near the relaxation's: done only once its plan is nearly
        // proven within its fixings.
        assert!(!fixed_mip_done(bound, cutoff, 155.0, 0.079));
        assert!(fixed_mip_done(bound, cutoff, 155.0, 0.002));
        // Its bound not past the cutoff: a plan within the gap may still come.
        assert!(!fixed_mip_done(bound, cutoff, 152.63, 0.0));
    }
}
