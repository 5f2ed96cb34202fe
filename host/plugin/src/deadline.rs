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

use std::time::Duration;

use cpu_time::ThreadTime;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::engine::{CallGuard, PluginEngine};

/// Arms `store` for one call on this thread with `budget` of CPU time. The
/// deadline is enforced while the returned guard lives (the epoch ticker
/// runs only while some call holds one): keep it until the call returns.
pub fn arm<T: 'static>(store: &mut Store<T>, engine: &PluginEngine, budget: Duration) -> CallGuard {
    let guard = engine.call_started();
    let start = ThreadTime::now().as_duration();
    let ticks = engine.ticks_for(budget);
    // The callback needs only the tick period (no engine clone per call).
    let tick = engine.tick();
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_callback(move |_| {
        let used = ThreadTime::now().as_duration().saturating_sub(start);
        if used >= budget {
            return Err(Trap::Interrupt.into());
        }
        Ok(UpdateDeadline::Continue(crate::engine::ticks_for(tick, budget - used)))
    });
    guard
}
