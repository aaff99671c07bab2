//! Little-endian encoding with bounds-checked decoding, for WAL records,
//! checkpoints and the superblock. Decoding never panics: running out of
//! bytes or meeting an impossible value is [`VosError::Corrupt`].

use crate::error::VosError;

/// Appends fixed-width little-endian values to a byte vector.
#[derive(Debug, Default)]
pub struct Enc {
    /// The bytes so far.
    pub buf: Vec<u8>,
}

impl Enc {
    /// An empty encoder.
    pub fn new() -> Enc {
        Enc::default()
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// A `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A `u128`.
    pub fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Length-prefixed bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
    }
}

/// Reads what [`Enc`] wrote.
#[derive(Debug)]
pub struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Dec<'a> {
    /// A decoder over `buf`; `what` names the structure in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Dec<'a> {
        Dec { buf, pos: 0, what }
    }

    /// A corruption error at the current position.
    pub fn corrupt(&self, why: &str) -> VosError {
        VosError::Corrupt(format!("{} at byte {}: {why}", self.what, self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], VosError> {
        if self.buf.len() - self.pos < n {
            return Err(self.corrupt("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8, VosError> {
        Ok(self.take(1)?[0])
    }
    /// A `u32`.
    pub fn u32(&mut self) -> Result<u32, VosError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    /// A `u64`.
    pub fn u64(&mut self) -> Result<u64, VosError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    /// A `u128`.
    pub fn u128(&mut self) -> Result<u128, VosError> {
        let mut b = [0u8; 16];
        b.copy_from_slice(self.take(16)?);
        Ok(u128::from_le_bytes(b))
    }
    /// Length-prefixed bytes, at most `max` long.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], VosError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(self.corrupt("length out of range"));
        }
        self.take(n)
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), VosError> {
        if self.remaining() != 0 {
            return Err(self.corrupt("trailing bytes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation_is_an_error() {
        let mut e = Enc::new();
        e.u8(7);
        e.u32(0xdead_beef);
        e.u64(u64::MAX - 1);
        e.u128(1 << 100);
        e.bytes(b"dkey");
        let mut d = Dec::new(&e.buf, "test");
        assert_eq!(d.u8().unwrap(), 7);
        assert_eq!(d.u32().unwrap(), 0xdead_beef);
        assert_eq!(d.u64().unwrap(), u64::MAX - 1);
        assert_eq!(d.u128().unwrap(), 1 << 100);
        assert_eq!(d.bytes(16).unwrap(), b"dkey");
        d.finish().unwrap();
        for cut in 0..e.buf.len() {
            let mut d = Dec::new(&e.buf[..cut], "test");
            let r = (|| -> Result<(), VosError> {
                d.u8()?;
                d.u32()?;
                d.u64()?;
                d.u128()?;
                d.bytes(16)?;
                Ok(())
            })();
            assert!(matches!(r, Err(VosError::Corrupt(_))), "cut at {cut}");
        }
        let mut d = Dec::new(&e.buf[13..], "test");
        let mut d2 = Dec::new(&[255, 255, 255, 255], "test");
        assert!(d2.bytes(16).is_err());
        let _ = d.u64();
    }
}
