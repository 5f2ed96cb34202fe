//! The control side's handle on the packet workers' data planes.
//!
//! Every packet worker owns a [`Dataplane`] of its own, so the fast path
//! takes no lock: the outbound worker's copy is the one whose sequence
//! numbers, flow cache, held packets and ACQUIREs are live, the inbound
//! worker's copy the one whose replay windows are (netstack mode has one
//! worker for both directions). The copies are *replicas*: built and changed
//! only by the same sequence of operations ([`Op`]), so SPD entries get the
//! same [`PolicyId`](esprit_sadb::spd::PolicyId)s everywhere. The control
//! side (IKE, reload) keeps one more replica, the *mirror*, on which each
//! operation runs first, synchronously, for its result (policy ids, errors);
//! the same operation then goes to every worker through its bounded queue,
//! with a wake-up, and is applied there between two batches.
//!
//! What only a worker knows (counters, ACQUIREs, whether an SA has carried
//! a packet) is asked for with a [`WorkerHandle::query`], answered by the
//! worker on its next turn; `esprit status` merges the answers.

use std::net::Ipv4Addr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use esprit_crypto::Provider;
use esprit_dataplane::Dataplane;
use tracing::{debug, warn};

use crate::keylog::KeyLog;

/// What an operation may use besides the data plane.
pub struct OpCtx<'a> {
    pub provider: &'static dyn Provider,
    /// Only the mirror records keys (once per SA, not once per replica).
    pub keylog: Option<&'a KeyLog>,
}

/// A change to the data plane, applied to every replica in the same order.
/// It must depend only on what it captured and on the replica it is given
/// (no clock reads, no randomness), so every replica ends up the same.
pub type Op = Arc<dyn Fn(&mut Dataplane, &OpCtx<'_>) + Send + Sync>;

/// A question for one worker, answered from its replica on its next turn.
pub type Query = Box<dyn FnOnce(&mut Dataplane) + Send>;

/// Which packets a worker moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Inner → outer: TUN reads, SPD, ESP/AH sealing, sends.
    Outbound,
    /// Outer → inner: socket reads, SAD by SPI, replay, opening, TUN writes.
    Inbound,
    /// Both (netstack mode: smoltcp is one single-threaded stack).
    Both,
}

impl Role {
    pub fn outbound(self) -> bool {
        matches!(self, Role::Outbound | Role::Both)
    }
    pub fn inbound(self) -> bool {
        matches!(self, Role::Inbound | Role::Both)
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Outbound => "outbound",
            Role::Inbound => "inbound",
            Role::Both => "packets",
        }
    }
}

/// A message for a packet worker.
pub enum ToWorker {
    Op(Op),
    Query(Query),
    /// Something was installed: run the packets held for an SA again.
    ReleaseHeld,
    /// Use this virtual IP as our inner address (netstack mode).
    VirtualIp(Ipv4Addr),
}

/// Messages a worker's queue holds before the control side waits for room.
pub const QUEUE: usize = 4096;

/// How long the control side waits for a worker's answer.
pub const ANSWER: Duration = Duration::from_secs(5);

/// The control side's end of one worker's queue.
#[derive(Clone)]
pub struct WorkerHandle {
    pub role: Role,
    tx: SyncSender<ToWorker>,
    waker: Arc<mio::Waker>,
}

impl WorkerHandle {
    /// A queue for a worker whose poll owns `waker`.
    pub fn new(role: Role, waker: Arc<mio::Waker>) -> (WorkerHandle, Receiver<ToWorker>) {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        (WorkerHandle { role, tx, waker }, rx)
    }

    /// Queues `m` (waiting for room if the queue is full) and wakes the worker.
    pub fn send(&self, m: ToWorker) {
        if self.tx.send(m).is_err() {
            debug!("the {} worker is gone", self.role.name());
        }
        self.wake();
    }

    pub fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            warn!("waking the {} worker: {e}", self.role.name());
        }
    }

    /// Runs `f` on the worker's replica and returns its answer, or `None`
    /// if the worker did not answer within [`ANSWER`] (stopping, or gone).
    pub fn query<T: Send + 'static>(&self, f: impl FnOnce(&mut Dataplane) -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.send(ToWorker::Query(Box::new(move |dp| {
            let _ = tx.send(f(dp));
        })));
        match rx.recv_timeout(ANSWER) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Timeout) => {
                warn!("the {} worker did not answer within {} s", self.role.name(), ANSWER.as_secs());
                None
            }
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }
}

/// The mirror and the workers' queues: every change to the data plane goes
/// through [`Replicas::apply`].
pub struct Replicas {
    mirror: Dataplane,
    provider: &'static dyn Provider,
    keylog: Option<KeyLog>,
    workers: Vec<WorkerHandle>,
    /// Operations applied before the workers exist: each worker's replica
    /// is built by replaying them ([`Replicas::replay`]).
    log: Vec<Op>,
    /// An operation went out since the last [`Replicas::sync`].
    unsynced: bool,
}

impl Replicas {
    /// `mirror` is what `build` made (with errors reported to the operator);
    /// `build` runs again for each worker's replica.
    pub fn new(provider: &'static dyn Provider, keylog: Option<KeyLog>, build: Op, mirror: Dataplane) -> Replicas {
        Replicas { mirror, provider, keylog, workers: Vec::new(), log: vec![build], unsynced: false }
    }

    /// The control side's replica (for reading what operations produced).
    pub fn mirror(&self) -> &Dataplane {
        &self.mirror
    }

    pub fn provider(&self) -> &'static dyn Provider {
        self.provider
    }

    /// Runs `f` on the mirror, then queues it for every worker; the
    /// mirror's result is returned (the workers reach the same one).
    pub fn apply<T, F>(&mut self, f: F) -> T
    where
        F: Fn(&mut Dataplane, &OpCtx<'_>) -> T + Send + Sync + 'static,
    {
        let ctx = OpCtx { provider: self.provider, keylog: self.keylog.as_ref() };
        let r = f(&mut self.mirror, &ctx);
        let op: Op = Arc::new(move |dp, ctx| {
            let _ = f(dp, ctx);
        });
        if self.workers.is_empty() {
            self.log.push(op);
        } else {
            for w in &self.workers {
                w.send(ToWorker::Op(Arc::clone(&op)));
            }
            self.unsynced = true;
        }
        r
    }

    /// A worker's replica: the operations so far, replayed on an empty
    /// data plane. Call before [`Replicas::attach`]ing its handle.
    pub fn replay(&self, mut empty: Dataplane) -> Dataplane {
        let ctx = OpCtx { provider: self.provider, keylog: None };
        for op in &self.log {
            op(&mut empty, &ctx);
        }
        empty
    }

    /// From now on operations go to this worker too.
    pub fn attach(&mut self, w: WorkerHandle) {
        self.workers.push(w);
    }

    /// Drops the operations kept for building replicas (once every worker
    /// has its replica: no copy of their keys stays in the log).
    pub fn forget_log(&mut self) {
        self.log.clear();
    }

    /// The workers attached so far.
    pub fn workers(&self) -> &[WorkerHandle] {
        &self.workers
    }

    /// The worker that moves outbound packets (held packets, ACQUIREs).
    pub fn outbound_worker(&self) -> Option<&WorkerHandle> {
        self.workers.iter().find(|w| w.role.outbound())
    }

    /// The worker that moves inbound packets (replay windows, SA use).
    pub fn inbound_worker(&self) -> Option<&WorkerHandle> {
        self.workers.iter().find(|w| w.role.inbound())
    }

    /// Waits until every worker has applied the operations queued so far
    /// (before IKE answers a peer, so the peer's first ESP packet finds its
    /// SA installed).
    pub fn sync(&mut self) {
        if !std::mem::take(&mut self.unsynced) {
            return;
        }
        let waits: Vec<Receiver<()>> = self
            .workers
            .iter()
            .map(|w| {
                let (tx, rx) = mpsc::channel();
                w.send(ToWorker::Query(Box::new(move |_| {
                    let _ = tx.send(());
                })));
                rx
            })
            .collect();
        for (w, rx) in self.workers.iter().zip(waits) {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(ANSWER) {
                warn!("the {} worker did not apply the data plane changes within {} s", w.role.name(), ANSWER.as_secs());
            }
        }
    }
}
