//! Operator commands (`esprit ike up|down|rekey|rekey-ike`) waiting for
//! their outcome: the control socket passes a reply channel with the
//! command, and the first endpoint event that settles it answers there
//! (a CHILD_SA installed, the IKE SA deleted or rekeyed, the setup failed).

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use esprit_ike::Event;

use super::Command;

/// What the operator is told: what happened, or why it failed.
pub type Outcome = Result<String, String>;
/// Where the outcome goes (the control connection's thread waits on it).
pub type Reply = Sender<Outcome>;
/// Commands from the control socket, with where to answer their outcome.
pub type CommandQueue = std::sync::Arc<std::sync::Mutex<Vec<(Command, Option<Reply>)>>>;

/// Longest a command is remembered; the client gives up sooner
/// (`esprit ike --timeout`).
const REMEMBER: Duration = Duration::from_secs(600);

struct Waiter {
    cmd: Command,
    reply: Reply,
    until: Instant,
}

/// The commands waiting for an event.
#[derive(Default)]
pub struct Waiters {
    list: Vec<Waiter>,
}

impl Waiters {
    pub fn add(&mut self, cmd: Command, reply: Reply, now: Instant) {
        self.list.retain(|w| w.until > now);
        self.list.push(Waiter { cmd, reply, until: now + REMEMBER });
    }

    /// Answers every waiter for which `settle` has an outcome.
    fn settle(&mut self, mut settle: impl FnMut(&Command) -> Option<Outcome>) {
        self.list.retain(|w| match settle(&w.cmd) {
            Some(o) => {
                // The client may have given up: nothing to do then.
                let _ = w.reply.send(o);
                false
            }
            None => true,
        });
    }

    /// A CHILD_SA came up for `conn`; `installed` says whether the data
    /// plane took it.
    pub fn child_up(&mut self, c: &esprit_ike::ChildSaUp, installed: bool) {
        if self.list.is_empty() {
            return;
        }
        let what = if c.replaces.is_some() { "rekeyed" } else { "established" };
        self.settle(|cmd| match cmd {
            Command::Up(n) | Command::Rekey(n) if *n == c.conn => Some(if installed {
                Ok(format!(
                    "conn {:?}: CHILD_SA {:?} {what} (spi in 0x{:08x}, out 0x{:08x})",
                    c.conn, c.child, c.spi_in, c.spi_out
                ))
            } else {
                Err(format!("CHILD_SA 0x{:08x}/0x{:08x} negotiated but not installed (see the daemon's log)", c.spi_in, c.spi_out))
            }),
            _ => None,
        });
    }

    /// Every other event that settles a command.
    pub fn event(&mut self, ev: &Event) {
        if self.list.is_empty() {
            return;
        }
        match ev {
            Event::IkeUp { conn, rekeyed: true, algs, .. } => self.settle(|cmd| match cmd {
                Command::RekeyIke(n) if n == conn => Some(Ok(format!("conn {conn:?}: IKE SA rekeyed ({algs})"))),
                _ => None,
            }),
            Event::IkeDown { conn, reason, .. } => self.settle(|cmd| match cmd {
                Command::Down(n) if n == conn => Some(Ok(format!("conn {conn:?}: IKE SA deleted ({reason})"))),
                Command::Up(n) | Command::Rekey(n) | Command::RekeyIke(n) if n == conn => {
                    Some(Err(format!("the IKE SA went down: {reason}")))
                }
                _ => None,
            }),
            Event::SetupFailed { conn, remote, reason } => self.settle(|cmd| match cmd {
                Command::Up(n) | Command::Rekey(n) | Command::RekeyIke(n) if n == conn => {
                    Some(Err(format!("setup with {remote} failed: {reason}")))
                }
                _ => None,
            }),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_settle_their_own_conns_commands() {
        let now = Instant::now();
        let mut w = Waiters::default();
        let (up_tx, up_rx) = std::sync::mpsc::channel();
        let (down_tx, down_rx) = std::sync::mpsc::channel();
        w.add(Command::Up("a".into()), up_tx, now);
        w.add(Command::Down("b".into()), down_tx, now);
        let remote = "192.0.2.1:500".parse().unwrap();
        // Another conn's failure settles nothing.
        w.event(&Event::SetupFailed { conn: "c".into(), remote, reason: "x".into() });
        assert!(up_rx.try_recv().is_err() && down_rx.try_recv().is_err());
        w.event(&Event::SetupFailed { conn: "a".into(), remote, reason: "NO_PROPOSAL_CHOSEN".into() });
        assert_eq!(up_rx.try_recv().unwrap(), Err("setup with 192.0.2.1:500 failed: NO_PROPOSAL_CHOSEN".into()));
        w.event(&Event::IkeDown { conn: "b".into(), remote, reason: "deleted".into() });
        assert_eq!(down_rx.try_recv().unwrap(), Ok("conn \"b\": IKE SA deleted (deleted)".into()));
        assert!(w.list.is_empty());
    }
}
