//! Bounds of the control socket: one request line of at most
//! [`MAX_REQUEST`] bytes, a few clients at a time, each with deadlines. A
//! client cannot grow the daemon's memory (a 400 MiB line once grew its RSS
//! by 410 MB) nor hold the socket (5 idle clients blocked `esprit status`).

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

/// Longest request line, newline included.
pub const MAX_REQUEST: usize = 64 * 1024;
/// Longest reply a client reads (a status of many SAs is large).
pub const MAX_REPLY: u64 = 256 * 1024 * 1024;
/// Connections served at once; more get a "busy" reply at once.
pub const MAX_CLIENTS: usize = 16;
/// How long a client may take to send its request line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to read its reply.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A control connection read under one deadline for the whole request: a
/// client trickling a byte at a time cannot hold its thread (and one of
/// the [`MAX_CLIENTS`] slots) longer than [`READ_TIMEOUT`].
pub struct Deadlined<'a> {
    pub conn: &'a std::os::unix::net::UnixStream,
    pub until: std::time::Instant,
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the request did not arrive in time"));
        }
        self.conn.set_read_timeout(Some(left))?;
        (&mut &*self.conn).read(buf)
    }
}

/// What reading one request line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line (without the newline), or the bytes before EOF.
    Complete(Vec<u8>),
    /// More than [`MAX_REQUEST`] bytes without a newline: nothing more is read.
    TooLong,
    /// The client closed without sending anything.
    Empty,
}

/// Reads one line of at most `max` bytes; never buffers more than `max + 1`.
pub fn read_line<R: Read>(r: R, max: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut reader = BufReader::new(r.take(max as u64 + 1));
    reader.read_until(b'\n', &mut buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Line::Complete(buf));
    }
    if buf.len() > max {
        return Ok(Line::TooLong);
    }
    if buf.is_empty() {
        return Ok(Line::Empty);
    }
    Ok(Line::Complete(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded() {
        assert_eq!(read_line(&b"abc\nrest"[..], 8).unwrap(), Line::Complete(b"abc".to_vec()));
        assert_eq!(read_line(&b"abc"[..], 8).unwrap(), Line::Complete(b"abc".to_vec()));
        assert_eq!(read_line(&b""[..], 8).unwrap(), Line::Empty);
        assert_eq!(read_line(&b"12345678\n"[..], 8).unwrap(), Line::Complete(b"12345678".to_vec()));
        assert_eq!(read_line(&b"123456789\n"[..], 8).unwrap(), Line::TooLong);
        // An endless source: only max + 1 bytes are read.
        assert_eq!(read_line(std::io::repeat(b'x'), 1024).unwrap(), Line::TooLong);
    }
}
