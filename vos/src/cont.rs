//! A container handle (`vos_cont_open`'s `coh`): the object operations of
//! one container on one target. Updates and punches are tasks that
//! complete once durable and visible; fetches and enumeration read at an
//! epoch. An update made with a `_tx` variant reports its version, which
//! [`Cont::abort`] takes back (a DTX that did not commit everywhere).

use tse::Task;

use crate::error::VosError;
use crate::extent::Segment;
use crate::fetch::FetchSlot;
use crate::target::Target;
use crate::tree::IndexOp;
use crate::types::{ChunkCsums, ContId, DataAddr, Epoch, ObjId, Recx, Version};

/// An open container on a target. Cheap to clone; every clone refers to
/// the same target.
#[derive(Clone)]
pub struct Cont {
    pub(crate) t: Target,
    pub(crate) id: ContId,
}

impl Cont {
    /// The container's id.
    pub fn id(&self) -> ContId {
        self.id
    }

    /// The container's label (`None` once destroyed).
    pub fn label(&self) -> Option<String> {
        self.t
            .with_index(|i| i.cont_label(self.id).map(str::to_string))
    }

    /// The target the container lives on.
    pub fn target(&self) -> &Target {
        &self.t
    }

    fn next_version(&self, epoch: Epoch) -> Result<Version, VosError> {
        let mut st = self.t.st.borrow_mut();
        self.t.next_version_in(&mut st, self.id, epoch)
    }

    /// `vos_update_begin` + `vos_update_end` for records `recx` of an
    /// array akey: the task completes once the update is durable and
    /// visible (its result is 0 or `-DER_*`).
    #[allow(clippy::too_many_arguments)]
    pub fn update_array(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        recx: Recx,
        rsize: u64,
        data: &[u8],
    ) -> Result<Task, VosError> {
        self.update_array_tx(oid, dkey, akey, epoch, recx, rsize, data)
            .map(|(task, _)| task)
    }

    /// [`update_array`](Self::update_array), also returning the version
    /// the update was given: what a DTX leader passes to
    /// [`abort`](Self::abort) to take it back.
    #[allow(clippy::too_many_arguments)]
    pub fn update_array_tx(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        recx: Recx,
        rsize: u64,
        data: &[u8],
    ) -> Result<(Task, Version), VosError> {
        if recx.nr.checked_mul(rsize) != Some(data.len() as u64) {
            return Err(VosError::Inval("data length does not match the extent"));
        }
        // Room for it, reclaimed on demand if need be (before the borrow:
        // a reclaim checkpoints).
        self.t.reserve_space(data.len() as u64)?;
        let (op, addr, v) = {
            let mut st = self.t.st.borrow_mut();
            let v = self.t.next_version_in(&mut st, self.id, epoch)?;
            let len = data.len() as u64;
            // vos_update_begin: check the op, then reserve its space.
            let (csum, chunks) = ChunkCsums::of(data);
            let mut addr = DataAddr { off: 0, len, csum };
            let mut op = IndexOp::UpdateArray {
                cont: self.id,
                oid,
                dkey: dkey.to_vec(),
                akey: akey.to_vec(),
                v,
                recx,
                rsize,
                data: Some(addr),
                chunks,
            };
            st.index.check(&op)?;
            addr.off = st.alloc.alloc(len)?;
            if let IndexOp::UpdateArray { data, .. } = &mut op {
                *data = Some(addr);
            }
            (op, addr, v)
        };
        Ok((self.t.commit(op, Some((addr, data)))?, v))
    }

    /// Sets a single value (replacing it from `epoch` on); the task
    /// completes once durable and visible.
    pub fn update_single(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        value: &[u8],
    ) -> Result<Task, VosError> {
        self.update_single_tx(oid, dkey, akey, epoch, value)
            .map(|(task, _)| task)
    }

    /// [`update_single`](Self::update_single), also returning the version
    /// the update was given (for [`abort`](Self::abort)).
    pub fn update_single_tx(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        value: &[u8],
    ) -> Result<(Task, Version), VosError> {
        if value.is_empty() {
            return Err(VosError::Inval("an empty single value (punch it instead)"));
        }
        self.t.reserve_space(value.len() as u64)?;
        let (op, addr, v) = {
            let mut st = self.t.st.borrow_mut();
            let v = self.t.next_version_in(&mut st, self.id, epoch)?;
            let len = value.len() as u64;
            let mut addr = DataAddr {
                off: 0,
                len,
                csum: crc32c::crc32c(value),
            };
            let mut op = IndexOp::UpdateSingle {
                cont: self.id,
                oid,
                dkey: dkey.to_vec(),
                akey: akey.to_vec(),
                v,
                data: Some(addr),
            };
            st.index.check(&op)?;
            addr.off = st.alloc.alloc(len)?;
            if let IndexOp::UpdateSingle { data, .. } = &mut op {
                *data = Some(addr);
            }
            (op, addr, v)
        };
        Ok((self.t.commit(op, Some((addr, value)))?, v))
    }

    /// `vos_dtx_abort` for one update: removes version `v` of `akey`
    /// (what [`update_array_tx`](Self::update_array_tx) or
    /// [`update_single_tx`](Self::update_single_tx) returned), as if the
    /// update had never been applied: older versions show through again,
    /// keys only it created disappear from enumeration, and its data space
    /// is reused after the next checkpoint. See [`IndexOp::Abort`].
    ///
    /// Logged through the WAL and applied once durable; the task completes
    /// then. Aborting a version that is not there (never applied on this
    /// target, or already aborted) succeeds and changes nothing. Abort
    /// only versions above every aggregation horizon used so far (DAOS's
    /// aggregation likewise stops below unresolved transactions):
    /// aggregation may have folded older ones into their neighbours.
    pub fn abort(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        v: Version,
    ) -> Result<Task, VosError> {
        self.commit_checked(IndexOp::Abort {
            cont: self.id,
            oid,
            dkey: dkey.to_vec(),
            akey: akey.to_vec(),
            v,
        })
    }

    /// Logs an abort once the container is not being destroyed and the
    /// index accepts it.
    fn commit_checked(&self, op: IndexOp) -> Result<Task, VosError> {
        {
            let st = self.t.st.borrow();
            Target::check_not_destroying(&st, self.id)?;
            st.index.check(&op)?;
        }
        self.t.commit(op, None)
    }

    /// Reads a single value at `epoch` (`None`: never set, or punched);
    /// its checksum is verified. Blocks, running this target's scheduler,
    /// until the read is done: for callers outside the target's own tasks
    /// (an engine handler uses [`fetch_single_task`](Self::fetch_single_task)).
    pub fn fetch_single(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
    ) -> Result<Option<Vec<u8>>, VosError> {
        let (t, slot) = self.fetch_single_task(oid, dkey, akey, epoch)?;
        self.finish_fetch(&t, &slot)
    }

    /// Waits for a fetch task and takes its result.
    fn finish_fetch<T>(&self, t: &Task, slot: &FetchSlot<T>) -> Result<T, VosError> {
        self.t.ctx.sched().progress_until(t);
        slot.borrow_mut().take().unwrap_or_else(|| {
            Err(VosError::IoStatus {
                what: "fetch".into(),
                rc: -tse::der::DER_CANCELED,
            })
        })
    }

    /// Punches a single value from `epoch` on.
    pub fn punch_single(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
    ) -> Result<Task, VosError> {
        self.punch_single_tx(oid, dkey, akey, epoch)
            .map(|(task, _)| task)
    }

    /// [`punch_single`](Self::punch_single), also returning the version
    /// the punch was given (for [`abort`](Self::abort)).
    pub fn punch_single_tx(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
    ) -> Result<(Task, Version), VosError> {
        self.punch_op(epoch, |v| IndexOp::UpdateSingle {
            cont: self.id,
            oid,
            dkey: dkey.to_vec(),
            akey: akey.to_vec(),
            v,
            data: None,
        })
    }

    /// Punches records `recx` of an array akey (they read as holes).
    pub fn punch_recx(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        recx: Recx,
        rsize: u64,
    ) -> Result<Task, VosError> {
        self.punch_recx_tx(oid, dkey, akey, epoch, recx, rsize)
            .map(|(task, _)| task)
    }

    /// [`punch_recx`](Self::punch_recx), also returning the version the
    /// punch was given (for [`abort`](Self::abort)).
    pub fn punch_recx_tx(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        recx: Recx,
        rsize: u64,
    ) -> Result<(Task, Version), VosError> {
        self.punch_op(epoch, |v| IndexOp::UpdateArray {
            cont: self.id,
            oid,
            dkey: dkey.to_vec(),
            akey: akey.to_vec(),
            v,
            recx,
            rsize,
            data: None,
            chunks: None,
        })
    }

    /// Punches an object, dkey or akey (`dkey`/`akey` `None` for the
    /// level above).
    pub fn punch(
        &self,
        oid: ObjId,
        dkey: Option<&[u8]>,
        akey: Option<&[u8]>,
        epoch: Epoch,
    ) -> Result<Task, VosError> {
        self.punch_tx(oid, dkey, akey, epoch).map(|(task, _)| task)
    }

    /// [`punch`](Self::punch), also returning the version the punch was
    /// given: an akey punch is taken back by [`abort`](Self::abort), an
    /// object or dkey punch by [`abort_punch`](Self::abort_punch).
    pub fn punch_tx(
        &self,
        oid: ObjId,
        dkey: Option<&[u8]>,
        akey: Option<&[u8]>,
        epoch: Epoch,
    ) -> Result<(Task, Version), VosError> {
        self.punch_op(epoch, |v| match (dkey, akey) {
            (None, _) => IndexOp::PunchObj {
                cont: self.id,
                oid,
                v,
            },
            (Some(d), None) => IndexOp::PunchDkey {
                cont: self.id,
                oid,
                dkey: d.to_vec(),
                v,
            },
            (Some(d), Some(a)) => IndexOp::PunchAkey {
                cont: self.id,
                oid,
                dkey: d.to_vec(),
                akey: a.to_vec(),
                v,
            },
        })
    }

    /// `vos_dtx_abort` for an object (`dkey` `None`) or dkey punch: removes
    /// the punch at version `v` (what [`punch_tx`](Self::punch_tx)
    /// returned), so what it hid is visible again. Logged and applied like
    /// [`abort`](Self::abort), with the same rules: a version that is not
    /// there changes nothing; abort only above every aggregation horizon.
    pub fn abort_punch(
        &self,
        oid: ObjId,
        dkey: Option<&[u8]>,
        v: Version,
    ) -> Result<Task, VosError> {
        self.commit_checked(IndexOp::AbortPunch {
            cont: self.id,
            oid,
            dkey: dkey.map(<[u8]>::to_vec),
            v,
        })
    }

    /// A punch at `epoch`: the op `make` builds for its new version, checked,
    /// then logged (it carries no data).
    fn punch_op(
        &self,
        epoch: Epoch,
        make: impl FnOnce(Version) -> IndexOp,
    ) -> Result<(Task, Version), VosError> {
        let v = self.next_version(epoch)?;
        let op = make(v);
        self.t.st.borrow().index.check(&op)?;
        Ok((self.t.commit(op, None)?, v))
    }

    /// Reads records `recx` of an array akey at `epoch`: their bytes
    /// (holes as zeros) and the segments (which are holes). Every chunk or
    /// extent read is checked against its checksum; a mismatch is an
    /// error, never data. Blocks like [`fetch_single`](Self::fetch_single);
    /// [`fetch_array_task`](Self::fetch_array_task) is the task form.
    pub fn fetch_array(
        &self,
        oid: ObjId,
        dkey: &[u8],
        akey: &[u8],
        epoch: Epoch,
        recx: Recx,
    ) -> Result<(Vec<u8>, Vec<Segment>), VosError> {
        let (t, slot) = self.fetch_array_task(oid, dkey, akey, epoch, recx)?;
        self.finish_fetch(&t, &slot)
    }

    /// The dkeys of `oid` that exist at `epoch`, in key order.
    pub fn list_dkeys(&self, oid: ObjId, epoch: Epoch) -> Vec<Vec<u8>> {
        self.t.with_index(|i| i.list_dkeys(self.id, oid, epoch))
    }

    /// The akeys under `dkey` that exist at `epoch`, in key order.
    pub fn list_akeys(&self, oid: ObjId, dkey: &[u8], epoch: Epoch) -> Vec<Vec<u8>> {
        self.t
            .with_index(|i| i.list_akeys(self.id, oid, dkey, epoch))
    }

    /// `query_key_max`: the highest dkey whose array akey `akey` holds
    /// data at `epoch`, and one past its highest data record.
    pub fn query_key_max(&self, oid: ObjId, akey: &[u8], epoch: Epoch) -> Option<(Vec<u8>, u64)> {
        self.t
            .with_index(|i| i.query_key_max(self.id, oid, akey, epoch))
    }

    /// The records holding data at `epoch` in array akey `akey` of every
    /// dkey of `oid` here.
    pub fn data_records(&self, oid: ObjId, akey: &[u8], epoch: Epoch) -> u64 {
        self.t
            .with_index(|i| i.data_records(self.id, oid, akey, epoch))
    }

    /// The epoch of the newest write or punch of `oid` here (see
    /// [`Index::obj_max_epoch`](crate::Index::obj_max_epoch)).
    pub fn obj_max_epoch(&self, oid: ObjId) -> Option<Epoch> {
        self.t.with_index(|i| i.obj_max_epoch(self.id, oid))
    }
}
