//! The RPC frame: every message between a client and an engine (and
//! between engines) is a checked, versioned frame, never a Rust struct
//! in memory, so the in-process transport and a socket transport carry
//! the same bytes.
//!
//! ```text
//! | magic u32 | version u16 | opcode u16 | flags u32 | rpc_id u64 | len u32 | crc32c u32 | payload (len bytes) |
//! ```
//!
//! The crc covers the header fields before it and the payload. Decoding
//! checks, in order: enough bytes, magic, version, opcode, length, crc.

use crate::error::ObjError;

/// "RDRP" little-endian.
pub const WIRE_MAGIC: u32 = u32::from_le_bytes(*b"RDRP");
/// The frame format version this build speaks. Version 2 added the
/// `PoolQuery` and `ContList` opcodes and their fields at the end of the
/// reply body: a version-1 peer would refuse those bodies as padded, so
/// the version says it first.
pub const WIRE_VERSION: u16 = 2;
/// Header bytes.
pub const HEADER_LEN: usize = 4 + 2 + 2 + 4 + 8 + 4 + 4;
/// Largest payload accepted (inline data stays below DAOS's 19,456-byte
/// bulk threshold; everything else is small).
pub const MAX_PAYLOAD: u32 = 1 << 20;

/// What a frame asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Opcode {
    /// `DAOS_OBJ_RPC_UPDATE` (client -> leader).
    ObjUpdate = 1,
    /// `DAOS_OBJ_RPC_FETCH`.
    ObjFetch = 2,
    /// `DAOS_OBJ_RPC_TGT_UPDATE` (leader -> replica).
    TgtUpdate = 3,
    /// Punch an object, dkeys, an akey or records (client -> leader).
    ObjPunch = 4,
    /// A punch forwarded by the leader to a replica.
    TgtPunch = 5,
    /// Abort a DTX's updates on a target (leader -> participant).
    TgtAbort = 6,
    /// `DAOS_OBJ_RPC_QUERY_KEY`: the highest dkey and record of an akey.
    ObjQueryKey = 7,
    /// `DAOS_OBJ_DKEY_RPC_ENUMERATE`: the dkeys an object has.
    ObjEnumDkeys = 8,
    /// Create a container on a target (`ds_cont` fan-out).
    ContCreate = 9,
    /// Look a container up by label on a target.
    ContOpen = 10,
    /// `POOL_QUERY` on one target: its data capacity and free bytes.
    PoolQuery = 11,
    /// The containers of a target: ids and labels.
    ContList = 12,
    /// Destroy a container (by label) on a target, if it has it.
    ContDestroy = 13,
    /// Set a container's properties on a target (`ds_cont` set-prop):
    /// today its label, carried in the request's label.
    ContSetProp = 14,
    /// `DAOS_OBJ_AKEY_RPC_ENUMERATE`: the akeys of one dkey of an object.
    ObjEnumAkeys = 15,
    /// A reply to any of the above.
    Reply = 0x8000,
}

impl Opcode {
    fn from_u16(v: u16) -> Option<Opcode> {
        Some(match v {
            1 => Opcode::ObjUpdate,
            2 => Opcode::ObjFetch,
            3 => Opcode::TgtUpdate,
            4 => Opcode::ObjPunch,
            5 => Opcode::TgtPunch,
            6 => Opcode::TgtAbort,
            7 => Opcode::ObjQueryKey,
            8 => Opcode::ObjEnumDkeys,
            9 => Opcode::ContCreate,
            10 => Opcode::ContOpen,
            11 => Opcode::PoolQuery,
            12 => Opcode::ContList,
            13 => Opcode::ContDestroy,
            14 => Opcode::ContSetProp,
            15 => Opcode::ObjEnumAkeys,
            0x8000 => Opcode::Reply,
            _ => return None,
        })
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the frame asks for.
    pub opcode: Opcode,
    /// Opcode-specific flags.
    pub flags: u32,
    /// Matches a reply to its request.
    pub rpc_id: u64,
}

fn crc(head: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(head), payload)
}

/// Encodes one frame.
pub fn encode(h: Header, payload: &[u8]) -> Result<Vec<u8>, ObjError> {
    if payload.len() > MAX_PAYLOAD as usize {
        return Err(ObjError::Proto(format!(
            "payload of {} bytes is too large",
            payload.len()
        )));
    }
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&WIRE_MAGIC.to_le_bytes());
    out.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    out.extend_from_slice(&(h.opcode as u16).to_le_bytes());
    out.extend_from_slice(&h.flags.to_le_bytes());
    out.extend_from_slice(&h.rpc_id.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let c = crc(&out, payload);
    out.extend_from_slice(&c.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Seals a frame built in place: `buf` holds [`HEADER_LEN`] reserved
/// bytes followed by the payload; the header is written over the reserved
/// bytes. Saves the copy [`encode`] makes when the payload is built by the
/// caller anyway.
pub fn seal(h: Header, buf: &mut [u8]) -> Result<(), ObjError> {
    let Some(len) = buf.len().checked_sub(HEADER_LEN) else {
        return Err(ObjError::Proto("frame shorter than its header".into()));
    };
    if len > MAX_PAYLOAD as usize {
        return Err(ObjError::Proto(format!(
            "payload of {len} bytes is too large"
        )));
    }
    buf[0..4].copy_from_slice(&WIRE_MAGIC.to_le_bytes());
    buf[4..6].copy_from_slice(&WIRE_VERSION.to_le_bytes());
    buf[6..8].copy_from_slice(&(h.opcode as u16).to_le_bytes());
    buf[8..12].copy_from_slice(&h.flags.to_le_bytes());
    buf[12..20].copy_from_slice(&h.rpc_id.to_le_bytes());
    buf[20..24].copy_from_slice(&(len as u32).to_le_bytes());
    let (head, payload) = buf.split_at_mut(HEADER_LEN);
    let c = crc(&head[..24], payload);
    head[24..28].copy_from_slice(&c.to_le_bytes());
    Ok(())
}

/// Decodes one frame from the start of `buf`: its header, payload and
/// total length.
pub fn decode(buf: &[u8]) -> Result<(Header, &[u8], usize), ObjError> {
    if buf.len() < HEADER_LEN {
        return Err(ObjError::Proto(format!(
            "frame of {} bytes is shorter than a header",
            buf.len()
        )));
    }
    let u16_at = |i: usize| u16::from_le_bytes([buf[i], buf[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let magic = u32_at(0);
    if magic != WIRE_MAGIC {
        return Err(ObjError::Proto(format!("bad magic {magic:#010x}")));
    }
    let version = u16_at(4);
    if version != WIRE_VERSION {
        return Err(ObjError::Proto(format!(
            "wire version {version}, this build speaks {WIRE_VERSION}"
        )));
    }
    let op = u16_at(6);
    let opcode =
        Opcode::from_u16(op).ok_or_else(|| ObjError::Proto(format!("unknown opcode {op}")))?;
    let flags = u32_at(8);
    let mut id = [0u8; 8];
    id.copy_from_slice(&buf[12..20]);
    let rpc_id = u64::from_le_bytes(id);
    let len = u32_at(20);
    if len > MAX_PAYLOAD || buf.len() - HEADER_LEN < len as usize {
        return Err(ObjError::Proto(format!(
            "payload length {len} exceeds the frame ({} bytes after the header)",
            buf.len() - HEADER_LEN
        )));
    }
    let payload = &buf[HEADER_LEN..HEADER_LEN + len as usize];
    let stored = u32_at(24);
    let computed = crc(&buf[..24], payload);
    if stored != computed {
        return Err(ObjError::Proto(format!(
            "crc mismatch: stored {stored:#010x}, computed {computed:#010x}"
        )));
    }
    Ok((
        Header {
            opcode,
            flags,
            rpc_id,
        },
        payload,
        HEADER_LEN + len as usize,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_every_damage_is_caught() {
        let h = Header {
            opcode: Opcode::ObjUpdate,
            flags: 3,
            rpc_id: 42,
        };
        let f = encode(h, b"dkey=1 akey=0").unwrap();
        let mut sealed = vec![0u8; HEADER_LEN];
        sealed.extend_from_slice(b"dkey=1 akey=0");
        seal(h, &mut sealed).unwrap();
        assert_eq!(sealed, f, "seal builds the same frame as encode");
        let (h2, p, n) = decode(&f).unwrap();
        assert_eq!((h2, p, n), (h, &b"dkey=1 akey=0"[..], f.len()));
        // Every single-bit flip anywhere is refused.
        for i in 0..f.len() {
            for bit in 0..8 {
                let mut g = f.clone();
                g[i] ^= 1 << bit;
                assert!(decode(&g).is_err(), "flip at byte {i} bit {bit} accepted");
            }
        }
        // Truncation, and trailing bytes left for the next frame.
        for cut in 0..f.len() {
            assert!(decode(&f[..cut]).is_err());
        }
        let mut two = f.clone();
        two.extend_from_slice(&f);
        assert_eq!(decode(&two).unwrap().2, f.len());
        assert!(encode(h, &vec![0; MAX_PAYLOAD as usize + 1]).is_err());
    }

    #[test]
    fn every_opcode_survives_a_frame_and_unknown_ones_are_refused() {
        for v in 0..=u16::MAX {
            let Some(op) = Opcode::from_u16(v) else {
                continue;
            };
            assert_eq!(op as u16, v);
            let h = Header {
                opcode: op,
                flags: 0,
                rpc_id: 1,
            };
            assert_eq!(decode(&encode(h, b"").unwrap()).unwrap().0, h);
        }
        assert_eq!(Opcode::from_u16(11), Some(Opcode::PoolQuery));
        assert_eq!(Opcode::from_u16(12), Some(Opcode::ContList));
        assert_eq!(Opcode::from_u16(13), Some(Opcode::ContDestroy));
        assert_eq!(Opcode::from_u16(14), Some(Opcode::ContSetProp));
        assert_eq!(Opcode::from_u16(15), Some(Opcode::ObjEnumAkeys));
        assert_eq!(Opcode::from_u16(16), None);
    }
}
