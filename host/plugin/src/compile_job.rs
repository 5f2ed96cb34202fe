//! The parent's side of a compile in a child process (the protocol is in
//! [`crate::compile_helper`]): start the helper in its own process group,
//! feed it the component, keep the tail of its standard error, wait for it
//! with a bound (killing the group when it passes), and hand back where the
//! artifact is. The caller checks the artifact ([`crate::artifact`]) before
//! loading anything.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::code_cache::MAX_ENTRY;
use crate::compile_helper::{Helper, EXIT_INVALID, EXIT_IO};

/// Bytes of the helper's standard error kept for the error message.
const STDERR_TAIL: usize = 2048;
/// Bytes of that tail shown in an error message.
const STDERR_SHOWN: usize = 600;

/// One compile to run.
pub struct Job<'a> {
    pub helper: &'a Helper,
    pub max_memory: usize,
    pub max_instances: u32,
    pub timeout: Duration,
}

/// Where the helper writes the artifact.
pub enum Dest<'a> {
    /// This file (a cache entry), written atomically by the helper.
    File(&'a Path),
    /// Its standard output, which is a private memory file (`memfd`) of ours.
    Memfd,
}

/// Why a compile in a child did not produce an artifact.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The helper could not be started (missing, not executable) or no
    /// memory file could be made: the caller may compile in-process.
    Unavailable(String),
    /// The helper says the bytes are not a valid component (its reason).
    Invalid(String),
    /// The helper compiled but could not write the output (a full or
    /// read-only cache directory): the caller may retry with a memfd.
    Unwritable(String),
    /// The helper failed: crashed, exited non-zero, timed out.
    Failed(String),
}

impl Job<'_> {
    /// Runs the helper on `bytes`. For [`Dest::Memfd`] the artifact's bytes
    /// are returned (bounded by [`MAX_ENTRY`]); for [`Dest::File`], `None`.
    pub fn run(&self, bytes: &[u8], dest: Dest<'_>) -> Result<Option<Vec<u8>>, Failure> {
        let memfd = match dest {
            Dest::Memfd => Some(memfd().map_err(|e| Failure::Unavailable(format!("no memory file for the output: {e}")))?),
            Dest::File(_) => None,
        };
        let mut cmd = Command::new(&self.helper.program);
        cmd.args(&self.helper.args)
            .arg("--out")
            .arg(match dest {
                Dest::File(p) => p.as_os_str(),
                Dest::Memfd => "-".as_ref(),
            })
            .arg("--max-memory")
            .arg(self.max_memory.to_string())
            .arg("--max-instances")
            .arg(self.max_instances.to_string())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a timeout kills whatever it started too.
            .process_group(0);
        match &memfd {
            Some(f) => cmd.stdout(Stdio::from(f.try_clone().map_err(|e| Failure::Unavailable(format!("duplicating the memory file: {e}")))?)),
            None => cmd.stdout(Stdio::null()),
        };
        let mut child = cmd.spawn().map_err(|e| Failure::Unavailable(format!("cannot start {}: {e}", self.helper)))?;
        // Drop our copy of the child's end now (the Command holds it).
        drop(cmd);
        let (status, tail) = self.feed_and_wait(&mut child, bytes);
        let status = status?;
        if !status.success() {
            return Err(failure(status, &tail));
        }
        match memfd {
            Some(f) => read_memfd(f).map(Some).map_err(|e| Failure::Failed(format!("reading its output: {e}"))),
            None => Ok(None),
        }
    }

    /// Writes `bytes` to the child's stdin and collects its stderr on two
    /// scoped threads while this one waits (bounded) for it to exit.
    fn feed_and_wait(&self, child: &mut Child, bytes: &[u8]) -> (Result<ExitStatus, Failure>, String) {
        let (stdin, stderr) = (child.stdin.take(), child.stderr.take());
        std::thread::scope(|s| {
            s.spawn(move || {
                if let Some(mut stdin) = stdin {
                    // EPIPE when the child exits without reading: its exit
                    // status says why.
                    let _ = stdin.write_all(bytes);
                }
            });
            let tail = s.spawn(move || stderr.map(read_tail).unwrap_or_default());
            let status = wait_bounded(child, self.timeout).map_err(|e| Failure::Failed(format!("waiting for {}: {e}", self.helper)));
            let status = match status {
                Ok(Some(st)) => Ok(st),
                Ok(None) => {
                    kill(child);
                    Err(Failure::Failed(format!("did not finish within {} s and was killed", self.timeout.as_secs())))
                }
                Err(e) => {
                    kill(child);
                    Err(e)
                }
            };
            let tail = tail.join().unwrap_or_default();
            let status = status.map_err(|f| match f {
                Failure::Failed(why) if !tail.is_empty() => Failure::Failed(format!("{why}; its stderr: {}", shown(&tail))),
                other => other,
            });
            (status, tail)
        })
    }
}

/// An anonymous, close-on-exec memory file.
fn memfd() -> std::io::Result<File> {
    let fd = rustix::fs::memfd_create("esprit-compiled-plugin", rustix::fs::MemfdFlags::CLOEXEC)?;
    Ok(File::from(fd))
}

fn read_memfd(mut f: File) -> std::io::Result<Vec<u8>> {
    let len = f.metadata()?.len();
    if len > MAX_ENTRY {
        return Err(std::io::Error::other(format!("{len} bytes, more than the {MAX_ENTRY} an artifact may have")));
    }
    f.seek(SeekFrom::Start(0))?;
    let mut out = Vec::with_capacity(len as usize);
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// The last [`STDERR_TAIL`] bytes of `r`, read to its end.
fn read_tail(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 2 * STDERR_TAIL {
                    buf.drain(..buf.len() - STDERR_TAIL);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if buf.len() > STDERR_TAIL {
        buf.drain(..buf.len() - STDERR_TAIL);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// `text` on one line (whitespace runs collapsed, control characters
/// escaped), its last [`STDERR_SHOWN`] bytes.
fn shown(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = crate::bounds::escape_controls(&line).into_owned();
    if line.len() <= STDERR_SHOWN {
        return line;
    }
    let mut cut = line.len() - STDERR_SHOWN;
    while !line.is_char_boundary(cut) {
        cut += 1;
    }
    format!("…{}", &line[cut..])
}

/// The failure an unsuccessful exit status stands for.
fn failure(status: ExitStatus, tail: &str) -> Failure {
    use std::os::unix::process::ExitStatusExt;
    if status.code() == Some(i32::from(EXIT_INVALID)) {
        let last = tail.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no reason given)");
        return Failure::Invalid(shown(last));
    }
    if status.code() == Some(i32::from(EXIT_IO)) {
        return Failure::Unwritable(shown(tail));
    }
    let what = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}{}", if status.core_dumped() { " (core dumped)" } else { "" }),
        _ => format!("ended with {status}"),
    };
    if tail.trim().is_empty() {
        Failure::Failed(format!("{what}, saying nothing on stderr"))
    } else {
        Failure::Failed(format!("{what}; its stderr: {}", shown(tail)))
    }
}

/// The child's exit status, or `None` if it still runs after `timeout`.
/// Waits on a pidfd (no polling); kernels before 5.3 fall back to checking
/// every 20 ms.
fn wait_bounded(child: &mut Child, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let pidfd = rustix::process::pidfd_open(Pid::from_child(child), PidfdFlags::empty());
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match &pidfd {
            Ok(fd) => {
                let ts = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) as _ };
                match poll(&mut [PollFd::new(fd, PollFlags::IN)], Some(&ts)) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(_) => std::thread::sleep(left.min(Duration::from_millis(20))),
        }
    }
}

/// Kills the child's process group and reaps the child.
fn kill(child: &mut Child) {
    // The child is not reaped yet, so its pid (= the group id) is ours.
    let _ = rustix::process::kill_process_group(Pid::from_child(child), Signal::KILL);
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_statuses_become_failures_with_their_reason() {
        let invalid = failure(ExitStatus::from_raw(65 << 8), "some log line\nunexpected end-of-file (at offset 0x10)\n\n");
        assert_eq!(invalid, Failure::Invalid("unexpected end-of-file (at offset 0x10)".into()));
        let crashed = failure(ExitStatus::from_raw(11 | 0x80), "");
        assert_eq!(crashed, Failure::Failed("was killed by signal 11 (core dumped), saying nothing on stderr".into()));
        let exited = failure(ExitStatus::from_raw(3 << 8), "thread 'main' panicked at x.rs:1:1:\n  boom\n");
        assert_eq!(exited, Failure::Failed("exited with status 3; its stderr: thread 'main' panicked at x.rs:1:1: boom".into()));
    }

    #[test]
    fn a_long_stderr_is_cut_to_its_end_and_escaped() {
        let text = format!("{}\u{1b}[31mthe end", "x".repeat(5000));
        let s = shown(&read_tail(text.as_bytes()));
        assert!(s.starts_with('…') && s.ends_with("\\u{1b}[31mthe end"), "{s}");
        assert!(s.len() <= STDERR_SHOWN + 4, "{}", s.len());
    }
}
