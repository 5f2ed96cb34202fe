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

use crate::engine::PluginEngine;

/// Arms `store` for one call on this thread with `budget` of CPU time.
pub fn arm<T: 'static>(store: &mut Store<T>, engine: &PluginEngine, budget: Duration) {
    let start = ThreadTime::now().as_duration();
    let ticks = engine.ticks_for(budget);
    let engine = engine.clone();
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_callback(move |_| {
        let used = ThreadTime::now().as_duration().saturating_sub(start);
        if used >= budget {
            return Err(Trap::Interrupt.into());
        }
        Ok(UpdateDeadline::Continue(engine.ticks_for(budget - used)))
    });
}
