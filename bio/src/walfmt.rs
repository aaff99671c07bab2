//! The WAL's on-device format: frames of records in a circular region.
//!
//! Each write of the log (one group commit) is one *frame*, starting on a
//! block boundary. Version 2 (written since the durability contracts):
//!
//! ```text
//! byte  0  magic   u32  "rdw2"
//!       4  gen     u32  the log's incarnation
//!       8  first_seq u64  sequence of the frame's first record
//!      16  nrec    u32  records in the frame
//!      20  bytes   u32  bytes of records after the header
//!      24  acked   u64  every record below this sequence was acknowledged
//!                       (its data and record on the device as the pool's
//!                       contract promises) when the frame was built
//!      32  version u16  2
//!      34  flags   u16  0
//!      36  (zero)  u32
//!      40  hcrc    u32  crc32c of bytes 0..40
//!      44  pcrc    u32  crc32c of the records
//!      48  nrec records: len u32 | payload (len bytes)
//!          then zero padding to the block size
//! ```
//!
//! Version 1 frames (magic "rdwl", a 32-byte header `magic | gen |
//! first_seq | nrec | bytes | hcrc | pcrc` with no `acked` mark) are still
//! read, with a mark of 0: nothing in them is known to be acknowledged.
//!
//! `gen` identifies the log's incarnation (set when the pool is made), so
//! blocks left from an older pool never parse. Records are numbered:
//! record `i` of a frame has sequence `first_seq + i`. A frame that does
//! not fit before the end of the region starts at the region's first
//! block instead.
//!
//! Replay walks frames from a known position and sequence up to the first
//! block that is not the expected next frame: a bad magic or generation, a
//! checksum that fails (a torn or corrupted write), or a sequence that is
//! not the next one (a stale frame from an earlier lap). The `acked` marks
//! tell what that end is: if any intact frame (before it, or found beyond
//! it) says records at or past the end were acknowledged, the end is
//! damage to acknowledged records, not a torn tail (see
//! [`crate::wal::WalScan`]). Replay never returns a record it has not
//! fully verified.

/// "rdw2" little-endian: a version 2 frame.
pub const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"rdw2");
/// "rdwl" little-endian: a version 1 frame (read, never written).
pub const FRAME_MAGIC_V1: u32 = u32::from_le_bytes(*b"rdwl");
/// The frame format version this build writes.
pub const FRAME_VERSION: u16 = 2;
/// Header bytes of a version 2 frame (the largest header).
pub const FRAME_HDR: usize = 48;
/// Header bytes of a version 1 frame.
pub const FRAME_HDR_V1: usize = 32;

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
    /// Every record below this sequence had been acknowledged when the
    /// frame was built (0 for a version 1 frame).
    pub acked: u64,
    /// Format version (1 or 2).
    pub version: u16,
}

impl FrameHeader {
    /// Header bytes of this frame's version.
    pub fn header_len(&self) -> usize {
        if self.version == 1 {
            FRAME_HDR_V1
        } else {
            FRAME_HDR
        }
    }

    /// Blocks the frame occupies.
    pub fn blocks(&self, block: usize) -> u64 {
        (self.header_len() + self.bytes as usize).div_ceil(block) as u64
    }
}

/// Builds a version 2 frame from `records`, padded to whole blocks, with
/// the acknowledged mark `acked`.
pub fn encode_frame(
    gen: u32,
    first_seq: u64,
    acked: u64,
    records: &[&[u8]],
    block: usize,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(records.iter().map(|r| 4 + r.len()).sum());
    for r in records {
        body.extend_from_slice(&(r.len() as u32).to_le_bytes());
        body.extend_from_slice(r);
    }
    let mut out = vec![0u8; frame_len(body.len(), block)];
    encode_frame_into(&mut out, gen, first_seq, acked, records.len() as u32, &body);
    out
}

/// Bytes of a frame whose records take `body` bytes (each `len u32 |
/// payload`), padded to whole blocks of `block` bytes.
pub fn frame_len(body: usize, block: usize) -> usize {
    (FRAME_HDR + body).div_ceil(block) * block
}

/// Writes a version 2 frame into `out` (exactly [`frame_len`] bytes,
/// e.g. DMA memory, whatever it held): the header for `nrec` records
/// whose bytes, already in the frame's `len u32 | payload` form, are
/// `body`, then `body`, then zeros to the end of `out`.
pub fn encode_frame_into(
    out: &mut [u8],
    gen: u32,
    first_seq: u64,
    acked: u64,
    nrec: u32,
    body: &[u8],
) {
    let end = FRAME_HDR + body.len();
    out[end..].fill(0);
    out[FRAME_HDR..end].copy_from_slice(body);
    out[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
    out[4..8].copy_from_slice(&gen.to_le_bytes());
    out[8..16].copy_from_slice(&first_seq.to_le_bytes());
    out[16..20].copy_from_slice(&nrec.to_le_bytes());
    out[20..24].copy_from_slice(&(body.len() as u32).to_le_bytes());
    out[24..32].copy_from_slice(&acked.to_le_bytes());
    out[32..34].copy_from_slice(&FRAME_VERSION.to_le_bytes());
    out[34..40].fill(0);
    let hcrc = crc32c::crc32c(&out[..40]);
    out[40..44].copy_from_slice(&hcrc.to_le_bytes());
    out[44..48].copy_from_slice(&crc32c::crc32c(body).to_le_bytes());
}

/// Parses a frame header (either version) from the first block of a
/// frame; `None` if it is not a valid header of generation `gen`.
pub fn decode_header(block0: &[u8], gen: u32) -> Option<FrameHeader> {
    if block0.len() < FRAME_HDR {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(block0[i..i + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |i: usize| u64::from_le_bytes(block0[i..i + 8].try_into().unwrap_or([0; 8]));
    if u32_at(4) != gen {
        return None;
    }
    // What differs between the versions: where the header's crc ends and
    // the records' crc sits, and the mark (none in version 1).
    let (hcrc_at, pcrc_at, acked, version) = match u32_at(0) {
        FRAME_MAGIC => {
            let version = u16::from_le_bytes([block0[32], block0[33]]);
            if version != FRAME_VERSION {
                return None;
            }
            (40, 44, u64_at(24), version)
        }
        FRAME_MAGIC_V1 => (24, 28, 0, 1),
        _ => return None,
    };
    if crc32c::crc32c(&block0[..hcrc_at]) != u32_at(hcrc_at) {
        return None;
    }
    Some(FrameHeader {
        gen,
        first_seq: u64_at(8),
        nrec: u32_at(16),
        bytes: u32_at(20),
        pcrc: u32_at(pcrc_at),
        acked,
        version,
    })
}

/// Splits a whole frame (header block included) into its records, after
/// checking the records' checksum. `None` if anything does not add up.
pub fn decode_records(frame: &[u8], h: &FrameHeader) -> Option<Vec<Vec<u8>>> {
    let start = h.header_len();
    let end = start.checked_add(h.bytes as usize)?;
    let body = frame.get(start..end)?;
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
        let f = encode_frame(9, 100, 42, &refs, 4096);
        assert_eq!(f.len(), 8192);
        let h = decode_header(&f, 9).unwrap();
        assert_eq!(
            (h.first_seq, h.nrec, h.blocks(4096), h.acked),
            (100, 3, 2, 42)
        );
        assert_eq!(decode_records(&f, &h).unwrap(), recs);
        assert!(decode_header(&f, 8).is_none(), "other generation");
        let mut torn = f.clone();
        torn[5000] ^= 1;
        assert!(decode_records(&torn, &h).is_none());
        let mut bad = f.clone();
        bad[9] ^= 1;
        assert!(decode_header(&bad, 9).is_none());
    }

    #[test]
    fn a_frame_built_in_place_over_old_bytes_is_the_same_frame() {
        let recs: [&[u8]; 2] = [b"first", &[9; 300]];
        let want = encode_frame(4, 17, 11, &recs, 512);
        let mut body = Vec::new();
        for r in recs {
            body.extend_from_slice(&(r.len() as u32).to_le_bytes());
            body.extend_from_slice(r);
        }
        assert_eq!(frame_len(body.len(), 512), want.len());
        // Whatever the buffer held before (a DMA buffer's last I/O).
        let mut out = vec![0xa5u8; want.len()];
        encode_frame_into(&mut out, 4, 17, 11, 2, &body);
        assert_eq!(out, want);
        let h = decode_header(&out, 4).unwrap();
        assert_eq!(decode_records(&out, &h).unwrap()[1], vec![9; 300]);
    }

    /// A version 1 frame, byte for byte as the first format wrote it.
    fn v1_frame(gen: u32, first_seq: u64, records: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; FRAME_HDR_V1];
        for r in records {
            out.extend_from_slice(&(r.len() as u32).to_le_bytes());
            out.extend_from_slice(r);
        }
        let bytes = out.len() - FRAME_HDR_V1;
        let pcrc = crc32c::crc32c(&out[FRAME_HDR_V1..]);
        out[0..4].copy_from_slice(b"rdwl");
        out[4..8].copy_from_slice(&gen.to_le_bytes());
        out[8..16].copy_from_slice(&first_seq.to_le_bytes());
        out[16..20].copy_from_slice(&(records.len() as u32).to_le_bytes());
        out[20..24].copy_from_slice(&(bytes as u32).to_le_bytes());
        let hcrc = crc32c::crc32c(&out[..24]);
        out[24..28].copy_from_slice(&hcrc.to_le_bytes());
        out[28..32].copy_from_slice(&pcrc.to_le_bytes());
        out.resize(4096, 0);
        out
    }

    #[test]
    fn version_1_frames_still_read_with_no_mark() {
        let f = v1_frame(5, 7, &[b"old", b"records"]);
        let h = decode_header(&f, 5).unwrap();
        assert_eq!((h.version, h.acked, h.first_seq, h.nrec), (1, 0, 7, 2));
        assert_eq!(h.blocks(4096), 1);
        assert_eq!(
            decode_records(&f, &h).unwrap(),
            vec![b"old".to_vec(), b"records".to_vec()]
        );
    }

    #[test]
    fn a_damaged_mark_fails_the_header() {
        let f = encode_frame(3, 1, 9, &[b"x"], 4096);
        let mut bad = f.clone();
        bad[25] ^= 0x40;
        assert!(decode_header(&bad, 3).is_none());
        let mut ver = f;
        ver[32] = 3;
        let hcrc = crc32c::crc32c(&ver[..40]);
        ver[40..44].copy_from_slice(&hcrc.to_le_bytes());
        assert!(decode_header(&ver, 3).is_none(), "unknown version");
    }
}
