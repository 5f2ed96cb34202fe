//! The I/O edge: the batched system calls of the packet path.
//!
//! - [`gso::GsoSender`] sends runs of ESP-in-UDP datagrams to one peer as one
//!   UDP GSO super-datagram (`UDP_SEGMENT`): one `sendmsg` for up to 64
//!   packets, segmented by the kernel (or the NIC).
//! - [`mmsg::UdpReceiver`] reads up to [`mmsg::SLOTS`] datagrams with one
//!   `recvmmsg` straight into the data plane's packet buffers.
//!
//! Both go through `nix`'s safe wrappers: this module has no `unsafe`.
pub mod gso;
pub mod mmsg;
