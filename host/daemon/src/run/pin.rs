//! `[tun] pin_workers`: each packet worker on a core of its own (the
//! outbound worker on the first core this process may use, the inbound
//! worker on the second), so the two directions never take turns on one
//! core and each keeps its caches warm.
use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// The cores this process may run on (its affinity mask), in order.
pub(super) fn allowed_cores() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).collect(),
        Err(_) => Vec::new(),
    }
}

/// The core for worker `index` of `workers`, if pinning can give each its
/// own: `None` for a single worker or fewer cores than workers.
pub(super) fn core_for(index: usize, workers: usize, allowed: &[usize]) -> Option<usize> {
    (workers > 1 && allowed.len() >= workers).then(|| allowed.get(index).copied()).flatten()
}

/// Pins the calling thread to `core`.
pub(super) fn pin_current(core: usize) -> nix::Result<()> {
    let mut set = CpuSet::new();
    set.set(core)?;
    sched_setaffinity(Pid::from_raw(0), &set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_core_each_or_none() {
        assert_eq!(core_for(0, 2, &[0, 1]), Some(0));
        assert_eq!(core_for(1, 2, &[0, 1]), Some(1));
        assert_eq!(core_for(1, 2, &[2, 5, 7]), Some(5));
        assert_eq!(core_for(0, 2, &[3]), None, "fewer cores than workers");
        assert_eq!(core_for(0, 1, &[0, 1]), None, "a single worker stays free");
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cores().is_empty());
    }
}
