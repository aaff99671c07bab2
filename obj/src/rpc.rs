//! The bodies of the object RPCs, as explicit little-endian bytes inside a
//! [`wire`] frame (never Rust structs in memory), so the
//! in-process transport carries exactly what a socket would.
//!
//! One request body ([`ObjReq`]) serves every opcode: an `OBJ_RW` update
//! or fetch names a container, object, epoch, dkey and I/O descriptors
//! ([`IodDesc`]: an akey and either a single value or array extents), the
//! forward list a leader replicates to, and its data: inline below
//! [`BULK_THRESHOLD`] bytes, otherwise a bulk descriptor whose bytes the
//! transport carries beside the frame (in-process: the client's own
//! buffer, pulled by the leader and the replicas without a copy). One
//! reply body ([`ObjReply`]) carries a status and what the opcode returns.

use vos::{ContId, Dec, Enc, Epoch, ObjId, Recx, Version};

use crate::error::ObjError;
use crate::placement::TargetId;
use crate::transport::BulkRef;
use crate::wire::{self, Header, Opcode, HEADER_LEN};

/// Payloads smaller than this travel inline in the RPC; larger ones go by
/// bulk (DAOS's `DAOS_BULK_LIMIT` = 20480 - 1024).
pub const BULK_THRESHOLD: usize = 19_456;

/// Longest key accepted on the wire.
pub const MAX_KEY: usize = vos::MAX_KEY_LEN;

const MAX_ITEMS: usize = 1 << 16;

/// One I/O descriptor (`daos_iod_t`): an akey and what of it is accessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IodDesc {
    /// Attribute key.
    pub akey: Vec<u8>,
    /// A single value (its bytes are the whole data) when true; an array
    /// of `rsize`-byte records at `recxs` otherwise.
    pub single: bool,
    /// Record size (array) or value length (single value, 0 on fetch).
    pub rsize: u64,
    /// Array extents, in data order.
    pub recxs: Vec<Recx>,
}

impl IodDesc {
    /// An array descriptor.
    pub fn array(akey: &[u8], rsize: u64, recxs: Vec<Recx>) -> IodDesc {
        IodDesc {
            akey: akey.to_vec(),
            single: false,
            rsize,
            recxs,
        }
    }

    /// Bytes this descriptor's data occupies (`None` on overflow).
    pub fn data_len(&self) -> Option<u64> {
        if self.single {
            return Some(self.rsize);
        }
        self.recxs.iter().try_fold(0u64, |acc, r| {
            r.nr.checked_mul(self.rsize)
                .and_then(|n| acc.checked_add(n))
        })
    }
}

/// Where a request's (or a reply's) data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDesc {
    /// No data.
    None,
    /// The bytes, inside the frame.
    Inline(Vec<u8>),
    /// `len` bytes carried by bulk beside the frame.
    Bulk(u64),
}

impl DataDesc {
    /// How many bytes the data has.
    pub fn len(&self) -> u64 {
        match self {
            DataDesc::None => 0,
            DataDesc::Inline(b) => b.len() as u64,
            DataDesc::Bulk(n) => *n,
        }
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What an `ObjPunch` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PunchKind {
    /// The whole object.
    Obj = 0,
    /// The request's dkey.
    Dkey = 1,
    /// The akeys of the request's iods.
    Akeys = 2,
    /// The records of the request's iods (they read as holes).
    Recx = 3,
}

/// The body of every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjReq {
    /// Container.
    pub cont: ContId,
    /// Object.
    pub oid: ObjId,
    /// Epoch of the operation (fetch: read at).
    pub epoch: Epoch,
    /// DTX id (`daos_dti_gen`), 0 when none.
    pub dti: u64,
    /// The client task that sent it, for traces (0: none).
    pub trace_parent: u64,
    /// Distribution key (empty for object-level operations).
    pub dkey: Vec<u8>,
    /// I/O descriptors.
    pub iods: Vec<IodDesc>,
    /// The other targets of the dkey's redundancy group, to which the
    /// leader forwards (`orw_shard_tgts`).
    pub fwd: Vec<TargetId>,
    /// The data (update).
    pub data: DataDesc,
    /// What a punch removes; for `TgtAbort`, how `versions` are laid out
    /// (`Recx` for an update's).
    pub punch: PunchKind,
    /// Versions to abort (`TgtAbort`): one per record extent or single
    /// value of each iod (`Recx`), one per iod (`Akeys`), or one (`Dkey`,
    /// `Obj`).
    pub versions: Vec<Version>,
    /// Container label (`ContCreate`, `ContOpen`, `ContDestroy`; the new
    /// label for `ContSetProp`).
    pub label: String,
}

impl ObjReq {
    /// A request about `oid` of `cont` at `epoch` with nothing else set.
    pub fn new(cont: ContId, oid: ObjId, epoch: Epoch) -> ObjReq {
        ObjReq {
            cont,
            oid,
            epoch,
            dti: 0,
            trace_parent: 0,
            dkey: Vec::new(),
            iods: Vec::new(),
            fwd: Vec::new(),
            data: DataDesc::None,
            punch: PunchKind::Obj,
            versions: Vec::new(),
            label: String::new(),
        }
    }
}

/// One target's space, as its `PoolQuery` handler reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetSpace {
    /// Bytes of the target's data region (its superblock, WAL and
    /// checkpoint slots are not counted).
    pub capacity: u64,
    /// Bytes of the data region not allocated to any version.
    pub free: u64,
}

/// Longest container label on the wire (DAOS allows 127 characters).
const MAX_LABEL: usize = 256;

/// The body of every reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjReply {
    /// 0 or `-DER_*`.
    pub status: i32,
    /// The epoch the operation used.
    pub epoch: Epoch,
    /// Versions a replica assigned to an update or punch, in the order
    /// [`ObjReq::versions`] of a `TgtAbort` takes them (what its leader
    /// aborts if the DTX fails); empty in a leader's reply to its client.
    pub versions: Vec<Version>,
    /// Holes per iod (fetch of an array).
    pub holes: Vec<Vec<Recx>>,
    /// Per iod of a single-value fetch: its length (`u64::MAX` = absent).
    pub sizes: Vec<u64>,
    /// Fetched data: inline or by bulk.
    pub data: Option<DataDesc>,
    /// Keys (enumeration).
    pub keys: Vec<Vec<u8>>,
    /// `query_key_max`: the highest dkey and one past its last record.
    pub max: Option<(Vec<u8>, u64)>,
    /// A container id (`ContOpen`).
    pub cont: u128,
    /// The target's space (`PoolQuery`).
    pub space: Option<TargetSpace>,
    /// The target's containers: id and label (`ContList`).
    pub conts: Vec<(u128, String)>,
}

impl ObjReply {
    /// A reply carrying only `status`.
    pub fn status(status: i32) -> ObjReply {
        ObjReply {
            status,
            ..ObjReply::default()
        }
    }
}

fn proto(e: vos::VosError) -> ObjError {
    ObjError::Proto(e.to_string())
}

fn put_data(e: &mut Enc, d: &DataDesc) {
    match d {
        DataDesc::None => e.u8(0),
        DataDesc::Inline(b) => {
            e.u8(1);
            e.bytes(b);
        }
        DataDesc::Bulk(n) => {
            e.u8(2);
            e.u64(*n);
        }
    }
}

fn get_data(d: &mut Dec) -> Result<DataDesc, vos::VosError> {
    Ok(match d.u8()? {
        0 => DataDesc::None,
        1 => DataDesc::Inline(d.bytes(wire::MAX_PAYLOAD as usize)?.to_vec()),
        2 => DataDesc::Bulk(d.u64()?),
        _ => return Err(d.corrupt("unknown data kind")),
    })
}

fn put_recxs(e: &mut Enc, r: &[Recx]) {
    e.u32(r.len() as u32);
    for x in r {
        e.u64(x.idx);
        e.u64(x.nr);
    }
}

fn count(d: &mut Dec) -> Result<usize, vos::VosError> {
    let n = d.u32()? as usize;
    if n > MAX_ITEMS {
        return Err(d.corrupt("too many items"));
    }
    Ok(n)
}

fn get_recxs(d: &mut Dec) -> Result<Vec<Recx>, vos::VosError> {
    let n = count(d)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(Recx {
            idx: d.u64()?,
            nr: d.u64()?,
        });
    }
    Ok(v)
}

fn put_versions(e: &mut Enc, v: &[Version]) {
    e.u32(v.len() as u32);
    for x in v {
        e.u64(x.epoch);
        e.u64(x.seq);
    }
}

fn get_versions(d: &mut Dec) -> Result<Vec<Version>, vos::VosError> {
    let n = count(d)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(Version {
            epoch: d.u64()?,
            seq: d.u64()?,
        });
    }
    Ok(v)
}

/// A frame under construction: header space reserved, and room for the
/// `body` bytes to be appended, so a frame is allocated once (an inline
/// 4 KiB payload would otherwise be copied again by every growth).
fn start(body: usize) -> Enc {
    let mut e = Enc::new();
    e.buf.reserve_exact(HEADER_LEN + body);
    e.buf.resize(HEADER_LEN, 0);
    e
}

/// Bytes [`put_data`] writes for `d`.
fn data_size(d: &DataDesc) -> usize {
    match d {
        DataDesc::None => 1,
        DataDesc::Inline(b) => 5 + b.len(),
        DataDesc::Bulk(_) => 9,
    }
}

/// Where the data of a request being encoded is, borrowed.
#[derive(Debug, Clone, Copy)]
pub enum DataRef<'a> {
    /// No data.
    None,
    /// Inline: these bytes.
    Inline(&'a [u8]),
    /// Inline: these pieces, concatenated (a caller's sgl, copied once,
    /// straight into the frame).
    InlinePieces(&'a [BulkRef]),
    /// `len` bytes by bulk beside the frame.
    Bulk(u64),
}

impl DataRef<'_> {
    fn size(&self) -> usize {
        match self {
            DataRef::None => 1,
            DataRef::Inline(b) => 5 + b.len(),
            DataRef::InlinePieces(p) => 5 + p.iter().map(BulkRef::len).sum::<usize>(),
            DataRef::Bulk(_) => 9,
        }
    }

    fn put(&self, e: &mut Enc) {
        match self {
            DataRef::None => e.u8(0),
            DataRef::Inline(b) => {
                e.u8(1);
                e.bytes(b);
            }
            DataRef::InlinePieces(p) => {
                e.u8(1);
                e.u32(p.iter().map(BulkRef::len).sum::<usize>() as u32);
                for b in p.iter() {
                    e.buf.extend_from_slice(b.as_slice());
                }
            }
            DataRef::Bulk(n) => {
                e.u8(2);
                e.u64(*n);
            }
        }
    }
}

impl<'a> From<&'a DataDesc> for DataRef<'a> {
    fn from(d: &'a DataDesc) -> DataRef<'a> {
        match d {
            DataDesc::None => DataRef::None,
            DataDesc::Inline(b) => DataRef::Inline(b),
            DataDesc::Bulk(n) => DataRef::Bulk(*n),
        }
    }
}

/// Byte offset, in a request frame, of its `trace_parent` (after the
/// header, the container, the object, the epoch and the DTX id).
const TRACE_PARENT_AT: usize = HEADER_LEN + 16 + 16 + 8 + 8;

/// An [`ObjReq`] made of borrowed parts, to encode without building (and
/// copying into) an owned request: the client's update encodes its
/// arguments and its sgl this way, a leader its forwards.
#[derive(Debug, Clone, Copy)]
pub struct ReqRef<'a> {
    /// Container.
    pub cont: ContId,
    /// Object.
    pub oid: ObjId,
    /// Epoch.
    pub epoch: Epoch,
    /// DTX id.
    pub dti: u64,
    /// Trace parent (0: none; [`seal_request`] can set it later).
    pub trace_parent: u64,
    /// Distribution key.
    pub dkey: &'a [u8],
    /// I/O descriptors.
    pub iods: &'a [IodDesc],
    /// The forward list: these targets...
    pub fwd: &'a [TargetId],
    /// ...except the one at this index (`usize::MAX`: none), so a group
    /// can be passed without its leader.
    pub fwd_skip: usize,
    /// The data.
    pub data: DataRef<'a>,
    /// Punch kind (see [`ObjReq::punch`]).
    pub punch: PunchKind,
    /// Versions (see [`ObjReq::versions`]).
    pub versions: &'a [Version],
    /// Container label.
    pub label: &'a str,
}

impl ReqRef<'_> {
    fn fwd_iter(&self) -> impl Iterator<Item = &TargetId> {
        let skip = self.fwd_skip;
        self.fwd
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != skip)
            .map(|(_, t)| t)
    }

    /// The request's frame with its header not yet written: seal it with
    /// [`seal_request`] (or [`wire::seal`]) before sending.
    pub fn encode_unsealed(&self) -> Result<Vec<u8>, ObjError> {
        if self.dkey.len() > MAX_KEY || self.iods.iter().any(|i| i.akey.len() > MAX_KEY) {
            return Err(ObjError::Inval("key longer than the wire allows"));
        }
        if self.iods.len() > MAX_ITEMS || self.iods.iter().any(|i| i.recxs.len() > MAX_ITEMS) {
            return Err(ObjError::Inval("too many iods or extents in one request"));
        }
        let nfwd = self.fwd_iter().count();
        let body = 16
            + 8 * 5
            + 4
            + self.dkey.len()
            + 4
            + self
                .iods
                .iter()
                .map(|i| 4 + i.akey.len() + 1 + 8 + 4 + 16 * i.recxs.len())
                .sum::<usize>()
            + 4
            + 8 * nfwd
            + self.data.size()
            + 1
            + 4
            + 16 * self.versions.len()
            + 4
            + self.label.len();
        let mut e = start(body);
        e.u128(self.cont.0);
        e.u64(self.oid.hi);
        e.u64(self.oid.lo);
        e.u64(self.epoch);
        e.u64(self.dti);
        e.u64(self.trace_parent);
        e.bytes(self.dkey);
        e.u32(self.iods.len() as u32);
        for i in self.iods {
            e.bytes(&i.akey);
            e.u8(i.single as u8);
            e.u64(i.rsize);
            put_recxs(&mut e, &i.recxs);
        }
        e.u32(nfwd as u32);
        for t in self.fwd_iter() {
            e.u32(t.engine);
            e.u32(t.target);
        }
        self.data.put(&mut e);
        e.u8(self.punch as u8);
        put_versions(&mut e, self.versions);
        e.bytes(self.label.as_bytes());
        Ok(e.buf)
    }

    /// Encodes the request as a sealed frame.
    pub fn encode(&self, opcode: Opcode, rpc_id: u64) -> Result<Vec<u8>, ObjError> {
        let mut buf = self.encode_unsealed()?;
        seal_request(&mut buf, opcode, rpc_id, self.trace_parent)?;
        Ok(buf)
    }
}

/// Seals a request frame from [`ReqRef::encode_unsealed`] (or
/// [`ObjReq::encode_unsealed`]): sets its trace parent to `trace_parent`
/// and writes its header.
pub fn seal_request(
    buf: &mut [u8],
    opcode: Opcode,
    rpc_id: u64,
    trace_parent: u64,
) -> Result<(), ObjError> {
    let Some(tp) = buf.get_mut(TRACE_PARENT_AT..TRACE_PARENT_AT + 8) else {
        return Err(ObjError::Proto(
            "request frame shorter than its body".into(),
        ));
    };
    tp.copy_from_slice(&trace_parent.to_le_bytes());
    wire::seal(
        Header {
            opcode,
            flags: 0,
            rpc_id,
        },
        buf,
    )
}

impl ObjReq {
    /// The request as borrowed parts.
    pub fn as_ref(&self) -> ReqRef<'_> {
        ReqRef {
            cont: self.cont,
            oid: self.oid,
            epoch: self.epoch,
            dti: self.dti,
            trace_parent: self.trace_parent,
            dkey: &self.dkey,
            iods: &self.iods,
            fwd: &self.fwd,
            fwd_skip: usize::MAX,
            data: (&self.data).into(),
            punch: self.punch,
            versions: &self.versions,
            label: &self.label,
        }
    }

    /// Encodes the request as a sealed frame.
    pub fn encode(&self, opcode: Opcode, rpc_id: u64) -> Result<Vec<u8>, ObjError> {
        self.as_ref().encode(opcode, rpc_id)
    }

    /// The request's frame, header not yet written (see
    /// [`seal_request`]).
    pub fn encode_unsealed(&self) -> Result<Vec<u8>, ObjError> {
        self.as_ref().encode_unsealed()
    }

    /// Decodes a request frame: its header and body. Every malformed
    /// input is an error.
    pub fn decode(frame: &[u8]) -> Result<(Header, ObjReq), ObjError> {
        let (h, mut r, inline) = ObjReq::decode_keep_inline(frame)?;
        if let Some(at) = inline {
            r.data = DataDesc::Inline(frame[at].to_vec());
        }
        Ok((h, r))
    }

    /// [`decode`](Self::decode) without copying inline data out of the
    /// frame: the request then says [`DataDesc::None`], and where in
    /// `frame` its inline bytes are comes beside it.
    pub fn decode_keep_inline(
        frame: &[u8],
    ) -> Result<(Header, ObjReq, Option<std::ops::Range<usize>>), ObjError> {
        let (h, payload, _) = wire::decode(frame)?;
        let mut d = Dec::new(payload, "object request");
        let r = (|| -> Result<(ObjReq, Option<std::ops::Range<usize>>), vos::VosError> {
            let cont = ContId(d.u128()?);
            let oid = ObjId::new(d.u64()?, d.u64()?);
            let epoch = d.u64()?;
            let dti = d.u64()?;
            let trace_parent = d.u64()?;
            let dkey = d.bytes(MAX_KEY)?.to_vec();
            let n = count(&mut d)?;
            let mut iods = Vec::with_capacity(n);
            for _ in 0..n {
                let akey = d.bytes(MAX_KEY)?.to_vec();
                let single = match d.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(d.corrupt("bad iod type")),
                };
                iods.push(IodDesc {
                    akey,
                    single,
                    rsize: d.u64()?,
                    recxs: get_recxs(&mut d)?,
                });
            }
            let n = count(&mut d)?;
            let mut fwd = Vec::with_capacity(n);
            for _ in 0..n {
                fwd.push(TargetId {
                    engine: d.u32()?,
                    target: d.u32()?,
                });
            }
            let (data, inline) = match d.u8()? {
                0 => (DataDesc::None, None),
                1 => {
                    let b = d.bytes(wire::MAX_PAYLOAD as usize)?;
                    // Where the bytes lie in the frame (they are a part of it).
                    let at = b.as_ptr() as usize - frame.as_ptr() as usize;
                    (DataDesc::None, Some(at..at + b.len()))
                }
                2 => (DataDesc::Bulk(d.u64()?), None),
                _ => return Err(d.corrupt("unknown data kind")),
            };
            let punch = match d.u8()? {
                0 => PunchKind::Obj,
                1 => PunchKind::Dkey,
                2 => PunchKind::Akeys,
                3 => PunchKind::Recx,
                _ => return Err(d.corrupt("bad punch kind")),
            };
            let versions = get_versions(&mut d)?;
            let label = String::from_utf8(d.bytes(MAX_LABEL)?.to_vec())
                .map_err(|_| d.corrupt("label is not UTF-8"))?;
            let r = ObjReq {
                cont,
                oid,
                epoch,
                dti,
                trace_parent,
                dkey,
                iods,
                fwd,
                data,
                punch,
                versions,
                label,
            };
            Ok((r, inline))
        })()
        .map_err(proto)?;
        d.finish().map_err(proto)?;
        Ok((h, r.0, r.1))
    }
}

impl ObjReply {
    /// Encodes the reply to request `rpc_id` as a sealed frame.
    pub fn encode(&self, rpc_id: u64) -> Result<Vec<u8>, ObjError> {
        let body = 4
            + 8
            + 4
            + 16 * self.versions.len()
            + 4
            + self.holes.iter().map(|h| 4 + 16 * h.len()).sum::<usize>()
            + 4
            + 8 * self.sizes.len()
            + 1
            + self.data.as_ref().map_or(0, data_size)
            + 4
            + self.keys.iter().map(|k| 4 + k.len()).sum::<usize>()
            + 1
            + self.max.as_ref().map_or(0, |(k, _)| 4 + k.len() + 8)
            + 16
            + 1
            + self.space.as_ref().map_or(0, |_| 16)
            + 4
            + self
                .conts
                .iter()
                .map(|(_, l)| 16 + 4 + l.len())
                .sum::<usize>();
        let mut e = start(body);
        e.u32(self.status as u32);
        e.u64(self.epoch);
        put_versions(&mut e, &self.versions);
        e.u32(self.holes.len() as u32);
        for h in &self.holes {
            put_recxs(&mut e, h);
        }
        e.u32(self.sizes.len() as u32);
        for s in &self.sizes {
            e.u64(*s);
        }
        match &self.data {
            None => e.u8(0),
            Some(d) => {
                e.u8(1);
                put_data(&mut e, d);
            }
        }
        e.u32(self.keys.len() as u32);
        for k in &self.keys {
            e.bytes(k);
        }
        match &self.max {
            None => e.u8(0),
            Some((k, end)) => {
                e.u8(1);
                e.bytes(k);
                e.u64(*end);
            }
        }
        e.u128(self.cont);
        match &self.space {
            None => e.u8(0),
            Some(sp) => {
                e.u8(1);
                e.u64(sp.capacity);
                e.u64(sp.free);
            }
        }
        if self.conts.len() > MAX_ITEMS || self.conts.iter().any(|c| c.1.len() > MAX_LABEL) {
            return Err(ObjError::Inval("too many or too long container labels"));
        }
        e.u32(self.conts.len() as u32);
        for (id, label) in &self.conts {
            e.u128(*id);
            e.bytes(label.as_bytes());
        }
        let mut buf = e.buf;
        wire::seal(
            Header {
                opcode: Opcode::Reply,
                flags: 0,
                rpc_id,
            },
            &mut buf,
        )?;
        Ok(buf)
    }

    /// Decodes a reply frame; `rpc_id` must match the request's.
    pub fn decode(frame: &[u8], rpc_id: u64) -> Result<ObjReply, ObjError> {
        let (h, payload, _) = wire::decode(frame)?;
        if h.opcode != Opcode::Reply {
            return Err(ObjError::Proto(format!(
                "expected a reply, got {:?}",
                h.opcode
            )));
        }
        if h.rpc_id != rpc_id {
            return Err(ObjError::Proto(format!(
                "reply to rpc {} where {rpc_id} was expected",
                h.rpc_id
            )));
        }
        let mut d = Dec::new(payload, "object reply");
        let r = (|| -> Result<ObjReply, vos::VosError> {
            let status = d.u32()? as i32;
            let epoch = d.u64()?;
            let versions = get_versions(&mut d)?;
            let n = count(&mut d)?;
            let mut holes = Vec::with_capacity(n);
            for _ in 0..n {
                holes.push(get_recxs(&mut d)?);
            }
            let n = count(&mut d)?;
            let mut sizes = Vec::with_capacity(n);
            for _ in 0..n {
                sizes.push(d.u64()?);
            }
            let data = match d.u8()? {
                0 => None,
                1 => Some(get_data(&mut d)?),
                _ => return Err(d.corrupt("bad data flag")),
            };
            let n = count(&mut d)?;
            let mut keys = Vec::with_capacity(n);
            for _ in 0..n {
                keys.push(d.bytes(MAX_KEY)?.to_vec());
            }
            let max = match d.u8()? {
                0 => None,
                1 => Some((d.bytes(MAX_KEY)?.to_vec(), d.u64()?)),
                _ => return Err(d.corrupt("bad max flag")),
            };
            let cont = d.u128()?;
            let space = match d.u8()? {
                0 => None,
                1 => Some(TargetSpace {
                    capacity: d.u64()?,
                    free: d.u64()?,
                }),
                _ => return Err(d.corrupt("bad space flag")),
            };
            let n = count(&mut d)?;
            let mut conts = Vec::with_capacity(n);
            for _ in 0..n {
                let id = d.u128()?;
                let label = String::from_utf8(d.bytes(MAX_LABEL)?.to_vec())
                    .map_err(|_| d.corrupt("container label is not UTF-8"))?;
                conts.push((id, label));
            }
            Ok(ObjReply {
                status,
                epoch,
                versions,
                holes,
                sizes,
                data,
                keys,
                max,
                cont,
                space,
                conts,
            })
        })()
        .map_err(proto)?;
        d.finish().map_err(proto)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ObjReq {
        let mut r = ObjReq::new(ContId(7 << 64 | 9), ObjId::new(1 << 60, 42), 123_456);
        r.dti = 99;
        r.trace_parent = 5;
        r.dkey = 3u64.to_be_bytes().to_vec();
        r.iods = vec![
            IodDesc::array(
                b"0",
                1,
                vec![Recx { idx: 10, nr: 20 }, Recx { idx: 40, nr: 2 }],
            ),
            IodDesc {
                akey: b"inode".to_vec(),
                single: true,
                rsize: 64,
                recxs: vec![],
            },
        ];
        r.fwd = vec![TargetId {
            engine: 1,
            target: 3,
        }];
        r.data = DataDesc::Inline(vec![7; 86]);
        r.punch = PunchKind::Recx;
        r.versions = vec![Version { epoch: 4, seq: 8 }];
        r.label = "posix-cont".into();
        r
    }

    /// A request encoded from borrowed parts (inline data gathered from
    /// pieces, the leader left out of the forward list, the trace parent
    /// set when sealed) is the frame of the owned request it describes,
    /// and decoding it without copying its inline data finds the bytes in
    /// the frame.
    #[test]
    fn borrowed_parts_encode_the_same_frame() {
        let want = sample();
        let data = match &want.data {
            DataDesc::Inline(b) => b.clone(),
            _ => unreachable!("sample has inline data"),
        };
        let whole = BulkRef::from_vec(data.clone());
        let pieces = [whole.slice(0, 50).unwrap(), whole.slice(50, 36).unwrap()];
        let leader = TargetId {
            engine: 0,
            target: 1,
        };
        let group = [want.fwd[0], leader];
        let r = ReqRef {
            fwd: &group,
            fwd_skip: 1,
            data: DataRef::InlinePieces(&pieces),
            trace_parent: 0,
            ..want.as_ref()
        };
        let mut f = r.encode_unsealed().unwrap();
        seal_request(&mut f, Opcode::ObjUpdate, 11, want.trace_parent).unwrap();
        assert_eq!(f, want.encode(Opcode::ObjUpdate, 11).unwrap());
        let (h, back, inline) = ObjReq::decode_keep_inline(&f).unwrap();
        assert_eq!((h.rpc_id, back.data.clone()), (11, DataDesc::None));
        assert_eq!(&f[inline.unwrap()], &data[..]);
        assert_eq!(
            ObjReq {
                data: want.data.clone(),
                ..back
            },
            want
        );
        assert!(seal_request(&mut [0u8; 10], Opcode::ObjUpdate, 1, 0).is_err());
    }

    #[test]
    fn requests_and_replies_round_trip() {
        let r = sample();
        let f = r.encode(Opcode::ObjUpdate, 11).unwrap();
        let (h, back) = ObjReq::decode(&f).unwrap();
        assert_eq!((h.opcode, h.rpc_id), (Opcode::ObjUpdate, 11));
        assert_eq!(back, r);
        let rep = ObjReply {
            status: -2025,
            epoch: 77,
            versions: vec![Version { epoch: 77, seq: 1 }],
            holes: vec![vec![Recx { idx: 0, nr: 4 }]],
            sizes: vec![u64::MAX],
            data: Some(DataDesc::Bulk(1 << 20)),
            keys: vec![b"a".to_vec(), vec![]],
            max: Some((b"k".to_vec(), 99)),
            cont: 3,
            space: Some(TargetSpace {
                capacity: 1 << 30,
                free: 12345,
            }),
            conts: vec![(9, "posix".into()), (1 << 100, String::new())],
        };
        let f = rep.encode(11).unwrap();
        assert_eq!(ObjReply::decode(&f, 11).unwrap(), rep);
        assert!(matches!(ObjReply::decode(&f, 12), Err(ObjError::Proto(_))));
    }

    #[test]
    fn frames_are_allocated_once_at_their_exact_size() {
        // The size estimate must match what is written: short, and an
        // inline payload is copied again when the vector grows.
        let mut r = sample();
        r.data = DataDesc::Inline(vec![1; 4096]);
        for req in [r, sample(), ObjReq::new(ContId(1), ObjId::new(1, 1), 1)] {
            let f = req.encode(Opcode::ObjUpdate, 1).unwrap();
            assert_eq!(f.capacity(), f.len());
        }
        let full = ObjReply {
            versions: vec![Version { epoch: 1, seq: 2 }],
            holes: vec![vec![Recx { idx: 0, nr: 4 }], vec![]],
            sizes: vec![1, 2],
            data: Some(DataDesc::Inline(vec![3; 4096])),
            keys: vec![b"ab".to_vec()],
            max: Some((b"k".to_vec(), 9)),
            space: Some(TargetSpace {
                capacity: 1,
                free: 1,
            }),
            conts: vec![(9, "posix".into())],
            ..ObjReply::status(0)
        };
        for rep in [full, ObjReply::status(-1)] {
            let f = rep.encode(3).unwrap();
            assert_eq!(f.capacity(), f.len());
        }
    }

    /// Re-seals `body` as a frame of `opcode` with a valid crc, so only
    /// the body is damaged.
    fn sealed(opcode: Opcode, rpc_id: u64, body: &[u8]) -> Vec<u8> {
        let mut g = vec![0u8; HEADER_LEN];
        g.extend_from_slice(body);
        wire::seal(
            Header {
                opcode,
                flags: 0,
                rpc_id,
            },
            &mut g,
        )
        .unwrap();
        g
    }

    #[test]
    fn damaged_bodies_with_a_valid_crc_decode_to_an_error_or_a_stable_value() {
        // What a buggy or hostile peer behind a future TCP transport could
        // send: bodies that pass the frame check. Each is refused cleanly
        // or decodes to a value that encodes and decodes to itself; never
        // a panic or an allocation sized by a bogus count.
        let req = sample()
            .encode(Opcode::ObjUpdate, 1)
            .map(|f| wire::decode(&f).unwrap().1.to_vec())
            .unwrap();
        let rep = ObjReply {
            epoch: 9,
            versions: vec![Version { epoch: 9, seq: 2 }],
            holes: vec![vec![Recx { idx: 1, nr: 2 }], vec![]],
            sizes: vec![3, u64::MAX],
            data: Some(DataDesc::Inline(vec![5; 40])),
            keys: vec![b"k".to_vec()],
            max: Some((b"m".to_vec(), 4)),
            ..ObjReply::status(0)
        }
        .encode(1)
        .map(|f| wire::decode(&f).unwrap().1.to_vec())
        .unwrap();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        let (mut ok, mut refused) = (0, 0);
        for i in 0..20_000 {
            let base = if i % 2 == 0 { &req } else { &rep };
            let mut body = base.clone();
            match rnd(4) {
                // A few bytes overwritten (counts and lengths among them).
                0 | 1 => {
                    for _ in 0..1 + rnd(4) {
                        let at = rnd(body.len());
                        body[at] = match rnd(3) {
                            0 => 0xff,
                            1 => 0,
                            _ => rnd(256) as u8,
                        };
                    }
                }
                // Cut short, or bytes inserted.
                2 => body.truncate(rnd(body.len())),
                _ => {
                    let at = rnd(body.len());
                    body.insert(at, rnd(256) as u8);
                }
            }
            if i % 2 == 0 {
                match ObjReq::decode(&sealed(Opcode::ObjUpdate, 1, &body)) {
                    Ok((_, r)) => {
                        ok += 1;
                        let again = r.encode(Opcode::ObjUpdate, 1);
                        // A decoded request may still be refused for sending
                        // (oversized keys are checked there), never altered.
                        if let Ok(f) = again {
                            assert_eq!(ObjReq::decode(&f).unwrap().1, r);
                        }
                    }
                    Err(e) => {
                        refused += 1;
                        assert!(matches!(e, ObjError::Proto(_)), "{e:?}");
                    }
                }
            } else {
                match ObjReply::decode(&sealed(Opcode::Reply, 1, &body), 1) {
                    Ok(r) => {
                        ok += 1;
                        if let Ok(f) = r.encode(1) {
                            assert_eq!(ObjReply::decode(&f, 1).unwrap(), r);
                        }
                    }
                    Err(e) => {
                        refused += 1;
                        assert!(matches!(e, ObjError::Proto(_)), "{e:?}");
                    }
                }
            }
        }
        // Both outcomes were exercised.
        assert!(ok > 100 && refused > 10_000, "ok {ok} refused {refused}");
    }

    #[test]
    fn truncated_or_padded_bodies_are_refused() {
        let r = sample();
        let f = r.encode(Opcode::ObjFetch, 1).unwrap();
        let (_, payload, _) = wire::decode(&f).unwrap();
        // Re-seal shorter and longer bodies so only the body is wrong.
        for body in [
            &payload[..payload.len() - 1],
            &[payload, &[0u8][..]].concat()[..],
        ] {
            let mut g = vec![0u8; HEADER_LEN];
            g.extend_from_slice(body);
            wire::seal(
                Header {
                    opcode: Opcode::ObjFetch,
                    flags: 0,
                    rpc_id: 1,
                },
                &mut g,
            )
            .unwrap();
            assert!(matches!(ObjReq::decode(&g), Err(ObjError::Proto(_))));
        }
    }

    #[test]
    fn pool_query_and_cont_list_replies_are_checked() {
        let rep = ObjReply {
            space: Some(TargetSpace {
                capacity: 100,
                free: 40,
            }),
            ..ObjReply::status(0)
        };
        let f = rep.encode(5).unwrap();
        assert_eq!(ObjReply::decode(&f, 5).unwrap(), rep);
        // The space flag is the byte after the container id; any value
        // but 0 and 1 is refused.
        let (_, payload, _) = wire::decode(&f).unwrap();
        let flag = payload.len() - 4 - 16 - 1;
        assert_eq!(payload[flag], 1);
        let mut body = payload.to_vec();
        body[flag] = 2;
        let mut g = vec![0u8; HEADER_LEN];
        g.extend_from_slice(&body);
        wire::seal(
            Header {
                opcode: Opcode::Reply,
                flags: 0,
                rpc_id: 5,
            },
            &mut g,
        )
        .unwrap();
        assert!(matches!(ObjReply::decode(&g, 5), Err(ObjError::Proto(_))));
        // A label the wire cannot carry is refused when encoding.
        let rep = ObjReply {
            conts: vec![(1, "x".repeat(MAX_LABEL + 1))],
            ..ObjReply::status(0)
        };
        assert!(rep.encode(1).is_err());
    }

    #[test]
    fn oversized_keys_are_refused_before_sending() {
        let mut r = sample();
        r.dkey = vec![0; MAX_KEY + 1];
        assert!(r.encode(Opcode::ObjUpdate, 1).is_err());
    }

    #[test]
    fn iod_lengths_are_checked_for_overflow() {
        let i = IodDesc::array(b"0", u64::MAX, vec![Recx { idx: 0, nr: 2 }]);
        assert_eq!(i.data_len(), None);
        let i = IodDesc::array(
            b"0",
            4,
            vec![Recx { idx: 0, nr: 2 }, Recx { idx: 9, nr: 1 }],
        );
        assert_eq!(i.data_len(), Some(12));
    }
}
