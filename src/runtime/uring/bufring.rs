//! The provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19) that
//! every multishot receive of a worker picks its buffers from.
//!
//! One anonymous mapping holds both parts: the ring of `struct io_uring_buf`
//! slots first (page-aligned, as `io_uring_register_buf_ring(3)` requires),
//! then `count` buffers of `size` bytes, buffer `bid` at `bid * size`. The
//! kernel pins only the slot pages; it fills buffers with ordinary user
//! copies, so the buffers cost no locked memory (`ulimit -l`).
//!
//! Ownership of a buffer moves with the ring's head and tail: the kernel
//! owns the buffers between head and tail (it may write into them at any
//! time), a CQE carrying `IORING_CQE_F_BUFFER` hands one to us, and
//! [`BufRing::recycle`] hands it back by publishing it behind the tail.

use std::io;
use std::mem::{offset_of, size_of};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

/// `struct io_uring_buf` of `<linux/io_uring.h>`. The ring header
/// (`struct io_uring_buf_ring`) overlays slot 0: its `tail` is slot 0's
/// `resv`, which is why [`BufRing::recycle`] writes the other three fields
/// one by one and never the whole slot.
#[repr(C)]
struct Slot {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const _: () = assert!(size_of::<Slot>() == 16);
const TAIL_OFFSET: usize = offset_of!(Slot, resv);
const _: () = assert!(TAIL_OFFSET == 14);

/// The kernel caps a buffer ring at 2^15 entries and wants a power of two.
pub(super) const MAX_BUFFERS: u16 = 1 << 15;

pub(super) struct BufRing {
    /// Start of the mapping: slot 0, page-aligned (mmap's result).
    base: NonNull<u8>,
    map_len: usize,
    /// Byte offset of buffer 0 (the slot array rounded up to a page).
    bufs_offset: usize,
    count: u16,
    size: u32,
    /// Our copy of the tail; the kernel only ever reads the shared one.
    tail: u16,
}

impl BufRing {
    /// Maps the ring and its buffers and puts every buffer in the ring.
    /// `count` must be a power of two up to 32768, `size` non-zero.
    pub(super) fn new(count: u16, size: u32) -> io::Result<Self> {
        if !count.is_power_of_two() || count > MAX_BUFFERS || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "io_uring buffer ring: buf_count must be a power of two up to 32768 and buf_size non-zero (got {count} x {size})"
                ),
            ));
        }
        // SAFETY: sysconf takes no pointers.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(4096);
        let slots_len = usize::from(count) * size_of::<Slot>();
        let bufs_offset = slots_len.div_ceil(page) * page;
        let map_len = usize::from(count)
            .checked_mul(size as usize)
            .and_then(|b| b.checked_add(bufs_offset))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "io_uring buffer ring too large"))?;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // named, and the result is checked against MAP_FAILED.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(addr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        let mut ring = Self { base, map_len, bufs_offset, count, size, tail: 0 };
        for bid in 0..count {
            // SAFETY: the ring is not registered yet, so the kernel owns
            // no buffer and every `bid` is ours to publish exactly once.
            unsafe { ring.recycle(bid) };
        }
        Ok(ring)
    }

    /// The address to give `IORING_REGISTER_PBUF_RING`.
    pub(super) fn ring_addr(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    pub(super) fn count(&self) -> u16 {
        self.count
    }

    /// The `len` bytes the kernel received into buffer `bid`, or `None` if
    /// the CQE's values are out of range.
    ///
    /// # Safety
    /// A CQE must have handed `bid` to us, and it must not have been
    /// recycled since: then the kernel has finished writing it (the CQ
    /// tail's acquire load ordered its writes before ours) and will not
    /// touch it until [`BufRing::recycle`], which needs `&mut self` and so
    /// cannot run while the returned slice is alive.
    pub(super) unsafe fn filled(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count || len > self.size as usize {
            return None;
        }
        let offset = self.bufs_offset + usize::from(bid) * self.size as usize;
        // SAFETY: `bid < count` and `len <= size`, so the range lies inside
        // the mapping (which `new` sized as bufs_offset + count * size); the
        // kernel is done with it per this function's contract.
        Some(unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(offset), len) })
    }

    /// Gives buffer `bid` back to the kernel.
    ///
    /// # Safety
    /// `bid` must be ours: handed over by a CQE (or never published) and
    /// not recycled since. Publishing a buffer twice would let two receives
    /// write into it at once.
    pub(super) unsafe fn recycle(&mut self, bid: u16) {
        if bid >= self.count {
            return;
        }
        let mask = self.count - 1;
        let slot_ptr = self.slot(self.tail & mask);
        let addr = self.base.as_ptr() as u64 + (self.bufs_offset + usize::from(bid) * self.size as usize) as u64;
        // SAFETY: `slot_ptr` is inside the slot array (index masked to
        // count - 1). The slot at our tail is one the kernel is done with:
        // we own at least one buffer (this one), so at most count - 1 lie
        // between the kernel's head and our tail (published, or picked by a
        // receive and not yet committed), and slot `tail & mask` is none of
        // them. Without IOU_PBUF_RING_INC the kernel never writes a slot and
        // reads this one again only after the tail store below. The three
        // fields are written singly, leaving `resv` alone: in slot 0 it is
        // the shared tail.
        unsafe {
            ptr::addr_of_mut!((*slot_ptr).addr).write(addr);
            ptr::addr_of_mut!((*slot_ptr).len).write(self.size);
            ptr::addr_of_mut!((*slot_ptr).bid).write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail lives at byte 14 of the page-aligned mapping, so
        // it is 2-aligned and valid while `self` is; the kernel reads it
        // only with smp_load_acquire, and we are its only writer. The
        // release store orders the slot writes above before the kernel can
        // see the new tail.
        let shared_tail = unsafe { AtomicU16::from_ptr(self.base.as_ptr().add(TAIL_OFFSET).cast::<u16>()) };
        shared_tail.store(self.tail, Ordering::Release);
    }

    fn slot(&self, index: u16) -> *mut Slot {
        // Only computes the address; callers keep `index < count`.
        self.base.as_ptr().cast::<Slot>().wrapping_add(usize::from(index))
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created. A `BufRing` is
        // dropped only while not registered: before its registration, or
        // after `UringBackend`'s Drop unregistered it with no request left
        // in flight (it is leaked otherwise), so the kernel uses none of it.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_sizes_the_kernel_would_refuse() {
        assert!(BufRing::new(0, 4096).is_err());
        assert!(BufRing::new(3, 4096).is_err());
        assert!(BufRing::new(8, 0).is_err());
    }

    #[test]
    fn starts_full_and_recycles_in_order() {
        let mut ring = BufRing::new(4, 1024).unwrap();
        // SAFETY: not registered with any io_uring, so nothing else reads
        // or writes the mapping; this only inspects what `new` wrote.
        unsafe {
            let tail = AtomicU16::from_ptr(ring.base.as_ptr().add(TAIL_OFFSET).cast::<u16>()).load(Ordering::Acquire);
            assert_eq!(tail, 4);
            for i in 0..4u16 {
                let slot = ring.slot(i);
                assert_eq!((*slot).bid, i);
                assert_eq!((*slot).len, 1024);
                assert_eq!((*slot).addr, ring.ring_addr() + ring.bufs_offset as u64 + u64::from(i) * 1024);
            }
            assert_eq!(ring.bufs_offset % 4096, 0);
            // Pretend the kernel consumed buffer 2, then hand it back: it
            // goes into slot 0 (tail 4 & 3) without touching the tail.
            ring.recycle(2);
            assert_eq!((*ring.slot(0)).bid, 2);
            let tail = AtomicU16::from_ptr(ring.base.as_ptr().add(TAIL_OFFSET).cast::<u16>()).load(Ordering::Acquire);
            assert_eq!(tail, 5);
            assert_eq!(ring.filled(2, 1024).map(<[u8]>::len), Some(1024));
            assert!(ring.filled(4, 1).is_none());
            assert!(ring.filled(0, 1025).is_none());
        }
    }
}
