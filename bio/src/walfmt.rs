//! The WAL's on-device format: frames of records in a circular region.
//!
//! Each write of the log (one group commit) is one *frame*, starting on a
//! block boundary:
//!
//! ```text
//! frame header (32 B): magic u32 | gen u32 | first_seq u64 | nrec u32 | bytes u32 | hcrc u32 | pcrc u32
//! then nrec records:   len u32 | payload (len bytes)
//! then zero padding to the block size
//! ```
//!
//! `gen` identifies the log's incarnation (set when the pool is made), so
//! blocks left from an older pool never parse. `hcrc` covers the header's
//! first 24 bytes, `pcrc` the records. Records are numbered: record `i` of a
//! frame has sequence `first_seq + i`. A frame that does not fit before
//! the end of the region starts at the region's first block instead.
//!
//! Replay walks frames from a known position and sequence and stops, without
//! error, at the first block that is not the expected next frame: a bad
//! magic or generation, a checksum that fails (a torn or corrupted write),
//! or a sequence that is not the next one (a stale frame from an earlier
//! lap). It never returns a record it has not fully verified.

/// "rdwl" little-endian.
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"rdwl");
/// Frame header bytes.
pub const FRAME_HDR: usize = 32;

/// Where a frame is: block index within the WAL region.
pub type BlockNo = u64;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Log incarnation.
    pub gen: u32,
    /// Sequence of the frame's first record.
    pub first_seq: u64,
    /// Records in the frame.
    pub nrec: u32,
    /// Bytes of records following the header.
    pub bytes: u32,
    /// crc32c of the records.
    pub pcrc: u32,
}

impl FrameHeader {
    /// Blocks the frame occupies.
    pub fn blocks(&self, block: usize) -> u64 {
        (FRAME_HDR + self.bytes as usize).div_ceil(block) as u64
    }
}

/// Builds a frame from `records`, padded to whole blocks.
pub fn encode_frame(gen: u32, first_seq: u64, records: &[&[u8]], block: usize) -> Vec<u8> {
    let bytes: usize = records.iter().map(|r| 4 + r.len()).sum();
    let total = (FRAME_HDR + bytes).div_ceil(block) * block;
    let mut out = Vec::with_capacity(total);
    out.resize(FRAME_HDR, 0);
    for r in records {
        out.extend_from_slice(&(r.len() as u32).to_le_bytes());
        out.extend_from_slice(r);
    }
    let pcrc = crc32c::crc32c(&out[FRAME_HDR..]);
    out[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    out[4..8].copy_from_slice(&gen.to_le_bytes());
    out[8..16].copy_from_slice(&first_seq.to_le_bytes());
    out[16..20].copy_from_slice(&(records.len() as u32).to_le_bytes());
    out[20..24].copy_from_slice(&(bytes as u32).to_le_bytes());
    let hcrc = crc32c::crc32c(&out[..24]);
    out[24..28].copy_from_slice(&hcrc.to_le_bytes());
    out[28..32].copy_from_slice(&pcrc.to_le_bytes());
    out.resize(total, 0);
    out
}

/// Parses a frame header from the first block of a frame; `None` if it is
/// not a valid header of generation `gen`.
pub fn decode_header(block0: &[u8], gen: u32) -> Option<FrameHeader> {
    if block0.len() < FRAME_HDR {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(block0[i..i + 4].try_into().unwrap_or([0; 4]));
    if u32_at(0) != FRAME_MAGIC || u32_at(4) != gen {
        return None;
    }
    if crc32c::crc32c(&block0[..24]) != u32_at(24) {
        return None;
    }
    let first_seq = u64::from_le_bytes(block0[8..16].try_into().unwrap_or([0; 8]));
    Some(FrameHeader {
        gen,
        first_seq,
        nrec: u32_at(16),
        bytes: u32_at(20),
        pcrc: u32_at(28),
    })
}

/// Splits a whole frame (header block included) into its records, after
/// checking the records' checksum. `None` if anything does not add up.
pub fn decode_records(frame: &[u8], h: &FrameHeader) -> Option<Vec<Vec<u8>>> {
    let end = FRAME_HDR.checked_add(h.bytes as usize)?;
    let body = frame.get(FRAME_HDR..end)?;
    if crc32c::crc32c(body) != h.pcrc {
        return None;
    }
    let mut out = Vec::with_capacity(h.nrec as usize);
    let mut at = 0usize;
    for _ in 0..h.nrec {
        let len = u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        out.push(body.get(at..at + len)?.to_vec());
        at += len;
    }
    (at == body.len()).then_some(out)
}

/// Where the frame after one at `pos` of `blocks` blocks goes, in a region
/// of `total` blocks whose usable area is `[first, total)`: right after it,
/// or back at `first` if a frame of `next_blocks` would not fit.
pub fn next_pos(
    pos: BlockNo,
    blocks: u64,
    next_blocks: u64,
    first: BlockNo,
    total: u64,
) -> BlockNo {
    let p = pos + blocks;
    if p + next_blocks > total {
        first
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let recs: Vec<Vec<u8>> = vec![b"one".to_vec(), vec![], vec![7; 5000]];
        let refs: Vec<&[u8]> = recs.iter().map(|r| r.as_slice()).collect();
        let f = encode_frame(9, 100, &refs, 4096);
        assert_eq!(f.len(), 8192);
        let h = decode_header(&f, 9).unwrap();
        assert_eq!((h.first_seq, h.nrec, h.blocks(4096)), (100, 3, 2));
        assert_eq!(decode_records(&f, &h).unwrap(), recs);
        assert!(decode_header(&f, 8).is_none(), "other generation");
        let mut torn = f.clone();
        torn[5000] ^= 1;
        assert!(decode_records(&torn, &h).is_none());
        let mut bad = f.clone();
        bad[9] ^= 1;
        assert!(decode_header(&bad, 9).is_none());
    }
}
