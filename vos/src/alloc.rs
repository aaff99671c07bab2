//! The extent allocator of a target's data region.
//!
//! Free space is a map of free extents by offset (coalesced on free) and a
//! set ordered by (length, offset) for best fit. Allocations are rounded up
//! to the allocation unit (the device block size, so every extent can be
//! written with O_DIRECT or NVMe commands as is).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::VosError;

/// Best-fit allocator over `[0, size)` in units of `unit` bytes.
#[derive(Debug, Clone)]
pub struct ExtentAlloc {
    unit: u64,
    size: u64,
    by_off: BTreeMap<u64, u64>,
    by_len: BTreeSet<(u64, u64)>,
    free: u64,
}

impl ExtentAlloc {
    /// An allocator with everything free. `unit` must be a power of two.
    pub fn new(size: u64, unit: u64) -> Result<ExtentAlloc, VosError> {
        if !unit.is_power_of_two() {
            return Err(VosError::Inval("allocation unit must be a power of two"));
        }
        let size = size / unit * unit;
        let mut a = ExtentAlloc {
            unit,
            size,
            by_off: BTreeMap::new(),
            by_len: BTreeSet::new(),
            free: 0,
        };
        if size > 0 {
            a.add_free(0, size);
        }
        Ok(a)
    }

    fn add_free(&mut self, off: u64, len: u64) {
        self.by_off.insert(off, len);
        self.by_len.insert((len, off));
        self.free += len;
    }

    fn take_free(&mut self, off: u64, len: u64) {
        self.by_off.remove(&off);
        self.by_len.remove(&(len, off));
        self.free -= len;
    }

    /// Rounds `len` up to the allocation unit.
    pub fn round(&self, len: u64) -> u64 {
        len.div_ceil(self.unit) * self.unit
    }

    /// Allocates `len` bytes (rounded up); returns the offset.
    pub fn alloc(&mut self, len: u64) -> Result<u64, VosError> {
        if len == 0 {
            return Err(VosError::Inval("zero-length allocation"));
        }
        let need = self.round(len);
        let Some(&(flen, off)) = self.by_len.range((need, 0)..).next() else {
            return Err(VosError::NoSpace {
                need,
                free: self.free,
            });
        };
        self.take_free(off, flen);
        if flen > need {
            self.add_free(off + need, flen - need);
        }
        Ok(off)
    }

    /// Marks `[off, off + len)` (rounded up) allocated, e.g. when rebuilding
    /// the map from an index at open. Fails if any of it is not free.
    pub fn reserve(&mut self, off: u64, len: u64) -> Result<(), VosError> {
        let need = self.round(len);
        let Some((&foff, &flen)) = self.by_off.range(..=off).next_back() else {
            return Err(VosError::BadFree { off, len });
        };
        if off % self.unit != 0 || off + need > foff + flen {
            return Err(VosError::BadFree { off, len });
        }
        self.take_free(foff, flen);
        if foff < off {
            self.add_free(foff, off - foff);
        }
        if off + need < foff + flen {
            self.add_free(off + need, foff + flen - off - need);
        }
        Ok(())
    }

    /// Frees `[off, off + len)` (rounded up), coalescing with neighbours.
    pub fn free(&mut self, off: u64, len: u64) -> Result<(), VosError> {
        let len = self.round(len);
        if len == 0 || off % self.unit != 0 || off + len > self.size {
            return Err(VosError::BadFree { off, len });
        }
        // Overlap with a free extent means a double free.
        if let Some((&p, &pl)) = self.by_off.range(..off + len).next_back() {
            if p + pl > off {
                return Err(VosError::BadFree { off, len });
            }
        }
        let (mut start, mut end) = (off, off + len);
        if let Some((&p, &pl)) = self.by_off.range(..off).next_back() {
            if p + pl == off {
                self.take_free(p, pl);
                start = p;
            }
        }
        if let Some(&nl) = self.by_off.get(&end) {
            self.take_free(end, nl);
            end += nl;
        }
        self.add_free(start, end - start);
        Ok(())
    }

    /// True if an allocation of `len` bytes (rounded up) would succeed:
    /// some free extent is at least that long.
    pub fn fits(&self, len: u64) -> bool {
        let need = self.round(len);
        self.by_len.last().is_some_and(|&(l, _)| l >= need)
    }

    /// The longest free extent: the largest allocation that succeeds.
    pub fn largest_free(&self) -> u64 {
        self.by_len.last().map_or(0, |&(l, _)| l)
    }

    /// Bytes free.
    pub fn free_bytes(&self) -> u64 {
        self.free
    }

    /// Bytes managed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The allocation unit.
    pub fn unit(&self) -> u64 {
        self.unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_coalesce_and_nospace() {
        let mut a = ExtentAlloc::new(64 * 1024, 4096).unwrap();
        let x = a.alloc(1).unwrap();
        let y = a.alloc(8192).unwrap();
        let z = a.alloc(4096).unwrap();
        assert_eq!((x, y, z), (0, 4096, 12288));
        assert_eq!(a.free_bytes(), 64 * 1024 - 16384);
        assert!(matches!(a.alloc(64 * 1024), Err(VosError::NoSpace { .. })));
        assert!(!a.fits(64 * 1024) && a.fits(48 * 1024) && !a.fits(48 * 1024 + 1));
        assert_eq!(a.largest_free(), 48 * 1024);
        a.free(y, 8192).unwrap();
        assert!(
            matches!(a.free(y, 4096), Err(VosError::BadFree { .. })),
            "double free"
        );
        a.free(x, 1).unwrap();
        // x and y coalesced: a 12 KiB extent at 0 fits exactly (best fit).
        assert_eq!(a.alloc(12288).unwrap(), 0);
        a.free(0, 12288).unwrap();
        a.free(z, 4096).unwrap();
        assert_eq!(a.free_bytes(), 64 * 1024);
        assert_eq!(a.alloc(64 * 1024).unwrap(), 0);
    }

    #[test]
    fn reserve_carves_known_extents() {
        let mut a = ExtentAlloc::new(16 * 4096, 4096).unwrap();
        a.reserve(4096, 4096).unwrap();
        a.reserve(3 * 4096, 8192).unwrap();
        assert!(a.reserve(4096, 1).is_err());
        assert_eq!(a.alloc(4096).unwrap(), 0);
        assert_eq!(a.alloc(4096).unwrap(), 2 * 4096);
        assert_eq!(a.free_bytes(), 11 * 4096);
    }
}
