//! DMA buffers: one aligned allocation, registered with the ring once,
//! handed out in pages from fixed-size chunks (DAOS's DMA buffer model).
//!
//! Every I/O's bytes live here between `iod_prep` and the end of
//! `iod_post`, so the kernel reads and writes registered memory
//! (`WriteFixed`/`ReadFixed`, `IORING_URING_CMD_FIXED`) and nothing is
//! allocated or registered per I/O. A request that finds no room waits (as
//! a task) until buffers come back; it never fails for lack of buffers.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use crate::error::BioError;

/// Page size of the pool: the unit of allocation and alignment.
pub const DMA_PAGE: usize = 4096;

/// A run of pages inside one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaSeg {
    /// Chunk index (= the registered buffer index).
    pub chunk: u16,
    /// First page in the chunk.
    pub page: u32,
    /// Length in bytes (whole pages).
    pub len: u32,
}

/// The pool.
pub struct DmaPool {
    base: NonNull<u8>,
    layout: Layout,
    chunk: usize,
    /// Per chunk: one bit per page, 1 = in use.
    used: Vec<Vec<u64>>,
    free_pages: usize,
    /// Next chunk to look in (spreads allocations).
    cursor: usize,
}

impl DmaPool {
    /// A pool of `chunks` chunks of `chunk_size` bytes (a multiple of
    /// [`DMA_PAGE`]).
    pub fn new(chunks: usize, chunk_size: usize) -> Result<DmaPool, BioError> {
        if chunks == 0
            || chunks > u16::MAX as usize
            || chunk_size == 0
            || chunk_size % DMA_PAGE != 0
        {
            return Err(BioError::Inval(format!(
                "DMA pool of {chunks} chunks x {chunk_size} bytes (need 1..65535 chunks of whole pages)"
            )));
        }
        let total = chunks
            .checked_mul(chunk_size)
            .ok_or_else(|| BioError::Inval("DMA pool too large".into()))?;
        let layout = Layout::from_size_align(total, DMA_PAGE)
            .map_err(|_| BioError::Inval("DMA pool too large".into()))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        let base = NonNull::new(ptr)
            .ok_or_else(|| BioError::os("allocating the DMA pool", libc::ENOMEM))?;
        let pages = chunk_size / DMA_PAGE;
        Ok(DmaPool {
            base,
            layout,
            chunk: chunk_size,
            used: vec![vec![0u64; pages.div_ceil(64)]; chunks],
            free_pages: chunks * pages,
            cursor: 0,
        })
    }

    /// Bytes per chunk: the largest single segment.
    pub fn chunk_size(&self) -> usize {
        self.chunk
    }

    /// Bytes free.
    pub fn free_bytes(&self) -> usize {
        self.free_pages * DMA_PAGE
    }

    /// Total bytes.
    pub fn size(&self) -> usize {
        self.layout.size()
    }

    /// One iovec per chunk, for `register_buffers`.
    pub fn iovecs(&self) -> Vec<libc::iovec> {
        (0..self.used.len())
            .map(|c| libc::iovec {
                // SAFETY: c * chunk is within the allocation.
                iov_base: unsafe { self.base.as_ptr().add(c * self.chunk) } as *mut libc::c_void,
                iov_len: self.chunk,
            })
            .collect()
    }

    fn pages_per_chunk(&self) -> usize {
        self.chunk / DMA_PAGE
    }

    fn set(bits: &mut [u64], from: usize, n: usize, on: bool) {
        for p in from..from + n {
            if on {
                bits[p / 64] |= 1 << (p % 64);
            } else {
                bits[p / 64] &= !(1 << (p % 64));
            }
        }
    }

    /// The first run of free pages in chunk `c`, at most `n` long
    /// (word-at-a-time scan of the bitmap).
    fn find_run(&self, c: usize, n: usize) -> Option<(usize, usize)> {
        let bits = &self.used[c];
        let pages = self.pages_per_chunk();
        let (w, word) = bits.iter().enumerate().find(|(_, w)| **w != u64::MAX)?;
        let start = w * 64 + (!*word).trailing_zeros() as usize;
        if start >= pages {
            return None;
        }
        let mut len = 0;
        let mut p = start;
        while len < n && p < pages {
            let off = p % 64;
            let word = bits[p / 64] >> off; // bit 0 is page p
            let in_word = 64 - off;
            let free = if word == 0 {
                in_word
            } else {
                (word.trailing_zeros() as usize).min(in_word)
            };
            let take = free.min(n - len).min(pages - p);
            len += take;
            p += take;
            if free < in_word {
                break; // a used page follows
            }
        }
        Some((start, len))
    }

    /// Allocates `len` bytes as runs of pages, each within one chunk (all
    /// or nothing); false when the pool cannot hold them now.
    pub fn alloc(&mut self, len: usize, out: &mut Vec<DmaSeg>) -> bool {
        let start = out.len();
        let mut left = len.div_ceil(DMA_PAGE).max(1);
        if left > self.free_pages {
            return false;
        }
        let chunks = self.used.len();
        let mut c = self.cursor;
        let mut misses = 0;
        while left > 0 && misses < chunks {
            match self.find_run(c, left) {
                Some((p, n)) => {
                    Self::set(&mut self.used[c], p, n, true);
                    self.free_pages -= n;
                    out.push(DmaSeg {
                        chunk: c as u16,
                        page: p as u32,
                        len: (n * DMA_PAGE) as u32,
                    });
                    left -= n;
                    misses = 0;
                }
                None => {
                    c = (c + 1) % chunks;
                    misses += 1;
                }
            }
        }
        if left > 0 {
            let segs: Vec<DmaSeg> = out.drain(start..).collect();
            self.free(&segs);
            return false;
        }
        self.cursor = c;
        true
    }

    /// Returns segments to the pool.
    pub fn free(&mut self, segs: &[DmaSeg]) {
        for s in segs {
            let n = s.len as usize / DMA_PAGE;
            Self::set(&mut self.used[s.chunk as usize], s.page as usize, n, false);
            self.free_pages += n;
        }
    }

    /// Address of a segment (for SQEs).
    pub fn addr(&self, s: DmaSeg) -> *mut u8 {
        let off = s.chunk as usize * self.chunk + s.page as usize * DMA_PAGE;
        debug_assert!(off + s.len as usize <= self.layout.size());
        // SAFETY: segments come from this pool and lie within it.
        unsafe { self.base.as_ptr().add(off) }
    }

    /// The bytes of a segment. Callers must not hold this while the
    /// segment is in flight.
    pub fn bytes(&self, s: DmaSeg) -> &[u8] {
        // SAFETY: the segment lies within the allocation; it is owned by
        // the caller's I/O, which is not in flight while borrowed here.
        unsafe { std::slice::from_raw_parts(self.addr(s), s.len as usize) }
    }

    /// The bytes of a segment, mutably (to copy write data in).
    pub fn bytes_mut(&mut self, s: DmaSeg) -> &mut [u8] {
        // SAFETY: as for `bytes`, and `&mut self` excludes other borrows.
        unsafe { std::slice::from_raw_parts_mut(self.addr(s), s.len as usize) }
    }
}

impl Drop for DmaPool {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.base.as_ptr(), self.layout) }
    }
}

impl std::fmt::Debug for DmaPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaPool")
            .field("size", &self.layout.size())
            .field("chunk", &self.chunk)
            .field("free", &self.free_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Random allocations and frees never hand out a page twice, and
        /// the free count stays exact.
        #[test]
        fn pages_are_never_handed_out_twice(ops in prop::collection::vec((any::<bool>(), 1usize..300_000), 1..200)) {
            let mut p = DmaPool::new(6, 96 * 1024).unwrap();
            let mut live: Vec<Vec<DmaSeg>> = Vec::new();
            let mut owner = [false; 6 * 24];
            for (free, len) in ops {
                if free && !live.is_empty() {
                    let segs = live.swap_remove(len % live.len());
                    for s in &segs {
                        for pg in 0..s.len as usize / DMA_PAGE {
                            owner[s.chunk as usize * 24 + s.page as usize + pg] = false;
                        }
                    }
                    p.free(&segs);
                } else {
                    let mut segs = Vec::new();
                    if p.alloc(len, &mut segs) {
                        prop_assert_eq!(segs.iter().map(|s| s.len as usize).sum::<usize>(), len.div_ceil(DMA_PAGE) * DMA_PAGE);
                        for s in &segs {
                            for pg in 0..s.len as usize / DMA_PAGE {
                                let i = s.chunk as usize * 24 + s.page as usize + pg;
                                prop_assert!(!owner[i], "page handed out twice");
                                owner[i] = true;
                            }
                        }
                        live.push(segs);
                    } else {
                        prop_assert!(segs.is_empty());
                    }
                }
                let used = owner.iter().filter(|x| **x).count();
                prop_assert_eq!(p.free_bytes(), (6 * 24 - used) * DMA_PAGE);
            }
        }
    }

    #[test]
    fn alloc_free_and_exhaustion() {
        let mut p = DmaPool::new(4, 64 * 1024).unwrap();
        let mut a = Vec::new();
        assert!(p.alloc(100 * 1024, &mut a), "spans chunks");
        assert_eq!(a.iter().map(|s| s.len as usize).sum::<usize>(), 100 * 1024);
        assert!(a.iter().all(|s| s.len as usize <= 64 * 1024));
        let mut b = Vec::new();
        assert!(p.alloc(150 * 1024, &mut b));
        let mut c = Vec::new();
        assert!(!p.alloc(8 * 1024, &mut c), "only 6 KiB left");
        assert!(c.is_empty());
        p.free(&a);
        assert!(p.alloc(8 * 1024, &mut c));
        p.bytes_mut(c[0]).fill(7);
        assert!(p.bytes(c[0]).iter().all(|&x| x == 7));
        assert_eq!(p.addr(c[0]) as usize % DMA_PAGE, 0);
        p.free(&b);
        p.free(&c);
        assert_eq!(p.free_bytes(), p.size());
        assert!(DmaPool::new(0, 4096).is_err());
        assert!(DmaPool::new(1, 1000).is_err());
    }
}
