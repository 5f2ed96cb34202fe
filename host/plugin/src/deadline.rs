//! Plugin call deadlines counted in the CPU time of the calling thread.
//!
//! The epoch ticker interrupts a call after the deadline in wall-clock
//! ticks; the callback then looks at how much CPU time the thread really
//! spent since the call started. Time the thread was not running (a busy
//! machine, a reload compiling a large component on the other core) does
//! not count, so a good plugin does not miss its deadline because of its
//! neighbours, while a plugin that loops burns CPU and is still stopped
//! within about one tick after its budget. A Wasm call cannot block (no
//! I/O, no sleep), so CPU time is all it can take.
//!
//! Reading a thread's CPU clock is a system call (`clock_gettime` with
//! `CLOCK_THREAD_CPUTIME_ID` has no vDSO path): about a quarter of a cheap
//! plugin's decision when read on every call. So the start of a call is
//! taken from a per-thread reading at most [`MAX_STALENESS`] old, plus the
//! wall-clock time since: a thread cannot run longer than the time that
//! passed, so that is never earlier than the true start (up to the clocks'
//! granularity), the CPU time a call is charged is never more than it used
//! (a good plugin is never cut short), and a looping plugin runs at most
//! [`MAX_STALENESS`] over its budget (plus the tick). The callback, which runs only when a call has
//! lasted its budget in wall-clock time, reads the clock itself.

use std::cell::Cell;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use wasmtime::{Store, Trap, UpdateDeadline};

/// The oldest per-thread CPU clock reading a call's start is derived from.
pub const MAX_STALENESS: Duration = Duration::from_micros(100);

thread_local! {
    /// This thread's last CPU clock reading, and when (wall clock) it was taken.
    static CPU_READING: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// This thread's CPU time at `now` (a wall-clock reading just taken), or an
/// upper bound of it: a reading at most [`MAX_STALENESS`] old plus the
/// wall-clock time since.
fn cpu_now_upper_bound(now: Instant) -> Duration {
    CPU_READING.with(|r| match r.get() {
        Some((at, cpu)) if now.duration_since(at) <= MAX_STALENESS => cpu + now.duration_since(at),
        _ => {
            let cpu = ThreadTime::now().as_duration();
            r.set(Some((now, cpu)));
            cpu
        }
    })
}

use crate::engine::{CallGuard, PluginEngine};
use crate::state::HostState;

/// The CPU-time budget of the call a store is running: written by
/// [`arm_at`] before each call, read by the store's deadline callback
/// (installed once per store by [`install`], so a call allocates no
/// closure).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallBudget {
    /// The thread's CPU time (an upper bound, see the module docs) when the
    /// call started.
    start: Duration,
    /// CPU time the call may use.
    budget: Duration,
}

/// Installs `store`'s epoch deadline callback: when a call has run its
/// budget in wall-clock ticks, charge it the CPU time it really used; trap
/// if that is the whole budget, else sleep again for the rest.
pub fn install(store: &mut Store<HostState>, engine: &PluginEngine) {
    let tick = engine.tick();
    store.epoch_deadline_callback(move |cx| {
        let CallBudget { start, budget } = cx.data().call;
        let used = ThreadTime::now().as_duration().saturating_sub(start);
        if used >= budget {
            return Err(Trap::Interrupt.into());
        }
        Ok(UpdateDeadline::Continue(crate::engine::ticks_for(tick, budget - used)))
    });
}

/// Arms `store` for one call on this thread with `budget` of CPU time. The
/// deadline is enforced while the returned guard lives (the epoch ticker
/// runs only while some call holds one): keep it until the call returns.
pub fn arm(store: &mut Store<HostState>, engine: &PluginEngine, budget: Duration) -> CallGuard {
    arm_at(store, engine, budget, Instant::now())
}

/// [`arm`] with the wall-clock time the caller already read (`now`).
pub fn arm_at(store: &mut Store<HostState>, engine: &PluginEngine, budget: Duration, now: Instant) -> CallGuard {
    let guard = engine.call_started();
    store.data_mut().call = CallBudget { start: cpu_now_upper_bound(now), budget };
    store.set_epoch_deadline(engine.ticks_for(budget));
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The derived start is never before the thread's true CPU time (up to
    /// the two clocks' granularity) and at most `MAX_STALENESS` after it.
    #[test]
    fn the_start_bound_brackets_the_true_cpu_time() {
        let slack = Duration::from_micros(10);
        let mut x = 0u64;
        for i in 0..20_000u64 {
            let before = ThreadTime::now().as_duration();
            let bound = cpu_now_upper_bound(Instant::now());
            let after = ThreadTime::now().as_duration();
            assert!(bound + slack >= before, "bound {bound:?} before the CPU time {before:?}");
            assert!(bound <= after + MAX_STALENESS + slack, "bound {bound:?} too far past {after:?}");
            // Some work between calls, so readings age.
            for j in 0..(i % 200) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(j);
            }
        }
        std::hint::black_box(x);
    }
}
