//! Anti-replay window (RFC 4303 §3.4.3) over 64-bit sequence numbers, with the
//! ESN high-bit inference of RFC 4303 Appendix A2.2.
//!
//! The bitmap is a ring of 64-bit blocks in the style of RFC 6479: advancing
//! the window clears whole blocks instead of shifting bits, so both the check
//! and the update are O(1) amortised. The ring has one block more than the
//! window needs so that the block holding the right edge never overlaps the
//! left edge.
use crate::DropReason;

/// Window used for ESN inference when anti-replay is disabled.
const INFERENCE_WINDOW: u32 = 1 << 30;

#[derive(Debug, Clone)]
pub struct ReplayWindow {
    /// Window size W in packets; 0 disables the check.
    size: u64,
    /// Highest authenticated sequence number (T in RFC 4303 Appendix A).
    top: u64,
    bitmap: Box<[u64]>,
    mask: u64,
}

impl ReplayWindow {
    /// A window of `size` packets (0 = anti-replay disabled).
    pub fn new(size: u32) -> Self {
        let blocks = if size == 0 { 1 } else { (u64::from(size).div_ceil(64) + 1).next_power_of_two() };
        ReplayWindow { size: u64::from(size), top: 0, bitmap: vec![0u64; blocks as usize].into_boxed_slice(), mask: blocks - 1 }
    }

    /// Forgets every packet and sets the right edge to `top` (no allocation).
    pub fn reset(&mut self, top: u64) {
        self.bitmap.fill(0);
        self.top = 0;
        self.update(top);
    }

    /// Highest sequence number accepted so far.
    pub fn top(&self) -> u64 {
        self.top
    }

    pub fn size(&self) -> u32 {
        self.size as u32
    }

    /// Infers the full 64-bit sequence number from the 32 bits on the wire
    /// (RFC 4303 Appendix A2.2). Returns `None` when the inferred high half
    /// would be below 0, i.e. the packet is older than anything possible.
    pub fn infer_esn(&self, seq_lo: u32) -> Option<u64> {
        let w = if self.size == 0 { INFERENCE_WINDOW } else { self.size.min(1 << 31) as u32 };
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        let seq_hi = if tl >= w - 1 {
            // Case A: the window lies within one sub-space.
            if seq_lo >= tl - (w - 1) {
                th
            } else {
                th.checked_add(1)?
            }
        } else {
            // Case B: the window spans two sub-spaces.
            if seq_lo >= tl.wrapping_sub(w - 1) {
                th.checked_sub(1)?
            } else {
                th
            }
        };
        Some(u64::from(seq_hi) << 32 | u64::from(seq_lo))
    }

    /// Checks a sequence number before the ICV is verified (RFC 4303 §3.4.3).
    #[inline]
    pub fn check(&self, seq: u64) -> Result<(), DropReason> {
        if seq == 0 {
            // Sequence numbers start at 1 (RFC 4303 §3.3.3); 0 is never sent.
            return Err(DropReason::Replay);
        }
        if self.size == 0 || seq > self.top {
            return Ok(());
        }
        if self.top - seq >= self.size {
            return Err(DropReason::TooOld);
        }
        let block = self.bitmap[((seq >> 6) & self.mask) as usize];
        if block & (1u64 << (seq & 63)) != 0 {
            Err(DropReason::Replay)
        } else {
            Ok(())
        }
    }

    /// Records a sequence number after its ICV verified (RFC 4303 §3.4.3).
    /// The caller has called [`check`](Self::check) first.
    #[inline]
    pub fn update(&mut self, seq: u64) {
        if seq > self.top {
            if self.size != 0 {
                let old_block = self.top >> 6;
                let new_block = seq >> 6;
                let n = (new_block - old_block).min(self.mask + 1);
                for i in 1..=n {
                    self.bitmap[((old_block + i) & self.mask) as usize] = 0;
                }
            }
            self.top = seq;
        }
        if self.size != 0 {
            self.bitmap[((seq >> 6) & self.mask) as usize] |= 1u64 << (seq & 63);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(w: &mut ReplayWindow, seq: u64) -> Result<(), DropReason> {
        w.check(seq)?;
        w.update(seq);
        Ok(())
    }

    #[test]
    fn in_order_and_replay() {
        let mut w = ReplayWindow::new(64);
        for s in 1..=200 {
            accept(&mut w, s).unwrap();
            assert_eq!(w.check(s), Err(DropReason::Replay));
        }
        assert_eq!(w.check(0), Err(DropReason::Replay));
        assert_eq!(w.check(200 - 64), Err(DropReason::TooOld));
        assert_eq!(w.check(200 - 63), Err(DropReason::Replay));
    }

    #[test]
    fn out_of_order_inside_window() {
        let mut w = ReplayWindow::new(4096);
        accept(&mut w, 5000).unwrap();
        for s in (905..5000).rev() {
            accept(&mut w, s).unwrap();
        }
        assert_eq!(w.check(904), Err(DropReason::TooOld));
        for s in 905..=5000 {
            assert_eq!(w.check(s), Err(DropReason::Replay), "{s}");
        }
    }

    #[test]
    fn big_jump_clears_bitmap() {
        let mut w = ReplayWindow::new(128);
        for s in 1..=100 {
            accept(&mut w, s).unwrap();
        }
        accept(&mut w, 1_000_000).unwrap();
        for s in 1_000_000 - 127..1_000_000 {
            assert_eq!(w.check(s), Ok(()), "{s}");
        }
        assert_eq!(w.check(1_000_000 - 128), Err(DropReason::TooOld));
    }

    #[test]
    fn check_does_not_update() {
        let mut w = ReplayWindow::new(64);
        w.check(7).unwrap();
        w.check(7).unwrap();
        accept(&mut w, 7).unwrap();
        assert_eq!(w.check(7), Err(DropReason::Replay));
    }

    #[test]
    fn disabled_window_accepts_everything_but_zero() {
        let mut w = ReplayWindow::new(0);
        accept(&mut w, 10).unwrap();
        accept(&mut w, 10).unwrap();
        accept(&mut w, 1).unwrap();
        assert_eq!(w.check(0), Err(DropReason::Replay));
    }

    #[test]
    fn esn_inference_case_a() {
        // RFC 4303 A2.2 case A: Tl >= W - 1.
        let mut w = ReplayWindow::new(64);
        accept(&mut w, (5u64 << 32) | 1000).unwrap();
        assert_eq!(w.infer_esn(1000 - 63), Some((5 << 32) | 937));
        assert_eq!(w.infer_esn(2000), Some((5 << 32) | 2000));
        // Below the window: the counter wrapped, so it belongs to the next sub-space.
        assert_eq!(w.infer_esn(10), Some((6 << 32) | 10));
    }

    #[test]
    fn esn_inference_case_b() {
        // Case B: Tl < W - 1, the window reaches into the previous sub-space.
        let mut w = ReplayWindow::new(64);
        accept(&mut w, (5u64 << 32) | 10).unwrap();
        assert_eq!(w.infer_esn(0xffff_fff0), Some((4 << 32) | 0xffff_fff0));
        assert_eq!(w.infer_esn(5), Some((5 << 32) | 5));
        assert_eq!(w.infer_esn(100_000), Some((5 << 32) | 100_000));
        // At the very start there is no sub-space -1.
        let w = ReplayWindow::new(64);
        assert_eq!(w.infer_esn(0xffff_fff0), None);
        assert_eq!(w.infer_esn(1), Some(1));
    }

    #[test]
    fn esn_across_the_wrap() {
        let mut w = ReplayWindow::new(4096);
        let start = 0xffff_ff00u64;
        accept(&mut w, start).unwrap();
        for s in start + 1..start + 0x200 {
            let inferred = w.infer_esn(s as u32).unwrap();
            assert_eq!(inferred, s);
            accept(&mut w, inferred).unwrap();
        }
        assert_eq!(w.infer_esn(0xffff_ff80), Some(0xffff_ff80));
        assert_eq!(w.check(0xffff_ff80), Err(DropReason::Replay));
    }
}
