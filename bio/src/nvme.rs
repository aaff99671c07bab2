//! NVMe passthrough: the command structure of `linux/nvme_ioctl.h`, the
//! ioctls to identify a namespace, and the io_uring command builders.

use std::os::fd::RawFd;
use std::path::Path;

/// `NVME_URING_CMD_IO`: `_IOWR('N', 0x80, struct nvme_uring_cmd)`.
pub const NVME_URING_CMD_IO: u32 = 0xC048_4E80;
/// `NVME_IOCTL_ID`: `_IO('N', 0x40)`.
const NVME_IOCTL_ID: libc::c_ulong = 0x4E40;
/// `NVME_IOCTL_ADMIN_CMD`: `_IOWR('N', 0x41, struct nvme_admin_cmd)` (72 bytes).
const NVME_IOCTL_ADMIN_CMD: libc::c_ulong = 0xC048_4E41;

/// NVM command set opcodes.
pub const OP_FLUSH: u8 = 0x00;
/// Write.
pub const OP_WRITE: u8 = 0x01;
/// Read.
pub const OP_READ: u8 = 0x02;
/// Write Zeroes.
pub const OP_WRITE_ZEROES: u8 = 0x08;
/// Force Unit Access bit of CDW12 for reads and writes.
pub const CDW12_FUA: u32 = 1 << 30;

/// `struct nvme_uring_cmd` / `struct nvme_passthru_cmd` (the same 72-byte
/// layout for what we use).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct NvmeCmd {
    /// Opcode.
    pub opcode: u8,
    /// Flags.
    pub flags: u8,
    /// Reserved.
    pub rsvd1: u16,
    /// Namespace id.
    pub nsid: u32,
    /// Command dword 2.
    pub cdw2: u32,
    /// Command dword 3.
    pub cdw3: u32,
    /// Metadata buffer.
    pub metadata: u64,
    /// Data buffer.
    pub addr: u64,
    /// Metadata length.
    pub metadata_len: u32,
    /// Data length.
    pub data_len: u32,
    /// Command dwords 10-15.
    pub cdw10: u32,
    /// CDW11.
    pub cdw11: u32,
    /// CDW12.
    pub cdw12: u32,
    /// CDW13.
    pub cdw13: u32,
    /// CDW14.
    pub cdw14: u32,
    /// CDW15.
    pub cdw15: u32,
    /// Timeout (0: default).
    pub timeout_ms: u32,
    /// Result (admin ioctl) / reserved.
    pub rsvd2: u32,
}

const _: () = assert!(std::mem::size_of::<NvmeCmd>() == 72);

impl NvmeCmd {
    /// A read or write of `nlb` blocks at `slba` into/from `addr`.
    pub fn rw(
        opcode: u8,
        nsid: u32,
        slba: u64,
        nlb: u32,
        addr: u64,
        len: u32,
        fua: bool,
    ) -> NvmeCmd {
        NvmeCmd {
            opcode,
            nsid,
            addr,
            data_len: len,
            cdw10: slba as u32,
            cdw11: (slba >> 32) as u32,
            cdw12: (nlb - 1) | if fua { CDW12_FUA } else { 0 },
            ..NvmeCmd::default()
        }
    }

    /// Write Zeroes of `nlb` blocks at `slba` (no data buffer).
    pub fn write_zeroes(nsid: u32, slba: u64, nlb: u32) -> NvmeCmd {
        NvmeCmd {
            opcode: OP_WRITE_ZEROES,
            nsid,
            cdw10: slba as u32,
            cdw11: (slba >> 32) as u32,
            cdw12: nlb - 1,
            ..NvmeCmd::default()
        }
    }

    /// A flush of the namespace's volatile write cache.
    pub fn flush(nsid: u32) -> NvmeCmd {
        NvmeCmd {
            opcode: OP_FLUSH,
            nsid,
            ..NvmeCmd::default()
        }
    }

    /// The 80-byte `cmd` area of an SQE128 carrying this command.
    pub fn to_sqe_cmd(&self) -> [u8; 80] {
        let mut out = [0u8; 80];
        // SAFETY: NvmeCmd is repr(C), 72 bytes of plain integers.
        let bytes =
            unsafe { std::slice::from_raw_parts((self as *const NvmeCmd).cast::<u8>(), 72) };
        out[..72].copy_from_slice(bytes);
        out
    }
}

/// What we need from Identify Namespace.
#[derive(Debug, Clone, Copy)]
pub struct NsInfo {
    /// Namespace size in LBAs.
    pub nsze: u64,
    /// log2 of the LBA data size of the formatted LBA format.
    pub lba_shift: u32,
}

/// The namespace id behind a generic NVMe char device.
pub fn namespace_id(fd: RawFd) -> Result<u32, i32> {
    // SAFETY: NVME_IOCTL_ID takes no argument and returns the nsid.
    let r = unsafe { libc::ioctl(fd, NVME_IOCTL_ID as _) };
    if r < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(r as u32)
    }
}

/// An Identify command (admin opcode 0x06) with `cns` for `nsid`, through
/// the admin ioctl: the 4 KiB data structure it returns.
fn identify(fd: RawFd, nsid: u32, cns: u32) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; 4096];
    let mut cmd = NvmeCmd {
        opcode: 0x06,
        nsid,
        addr: buf.as_mut_ptr() as u64,
        data_len: 4096,
        cdw10: cns,
        ..NvmeCmd::default()
    };
    // SAFETY: the admin ioctl reads the 72-byte command and writes at most
    // data_len bytes to `buf`, which outlives the call.
    let r = unsafe { libc::ioctl(fd, NVME_IOCTL_ADMIN_CMD as _, &mut cmd as *mut NvmeCmd) };
    if r < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    if r > 0 {
        return Err(libc::EIO); // NVMe status
    }
    Ok(buf)
}

/// Identify Namespace (CNS 0) through the admin ioctl.
pub fn identify_namespace(fd: RawFd, nsid: u32) -> Result<NsInfo, i32> {
    let buf = identify(fd, nsid, 0)?;
    let nsze = u64::from_le_bytes(buf[0..8].try_into().unwrap_or([0; 8]));
    let flbas = (buf[26] & 0x0f) as usize;
    let lbads = buf[128 + 4 * flbas + 2] as u32;
    if !(9..=16).contains(&lbads) || nsze == 0 {
        return Err(libc::EINVAL);
    }
    Ok(NsInfo {
        nsze,
        lba_shift: lbads,
    })
}

/// Identify Controller (CNS 1): true if the controller has a volatile
/// write cache (VWC, byte 525 bit 0).
pub fn volatile_write_cache(fd: RawFd) -> Result<bool, i32> {
    Ok(identify(fd, 0, 1)?[525] & 1 != 0)
}

/// The largest transfer one command may carry, in bytes, from the block
/// device's `max_hw_sectors_kb` (128 KiB if sysfs does not say).
pub fn max_transfer(ng: &Path) -> u32 {
    let Some(name) = ng.file_name().and_then(|n| n.to_str()) else {
        return 128 << 10;
    };
    let blk = name.replacen("ng", "nvme", 1);
    std::fs::read_to_string(format!("/sys/block/{blk}/queue/max_hw_sectors_kb"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(128 << 10, |kb| kb.saturating_mul(1024).max(4096))
}

/// True if the block device behind `/dev/ngXnY` has poll queues
/// (`/sys/block/nvmeXnY/queue/io_poll` is 1).
pub fn has_poll_queues(ng: &Path) -> bool {
    let Some(name) = ng.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let blk = name.replacen("ng", "nvme", 1);
    std::fs::read_to_string(format!("/sys/block/{blk}/queue/io_poll"))
        .is_ok_and(|s| s.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rw_command_layout() {
        let c = NvmeCmd::rw(OP_WRITE, 1, 0x1_0000_0008, 8, 0xdead_0000, 4096, true);
        let b = c.to_sqe_cmd();
        assert_eq!(b[0], OP_WRITE);
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 1);
        assert_eq!(
            u64::from_le_bytes(b[24..32].try_into().unwrap()),
            0xdead_0000
        );
        assert_eq!(u32::from_le_bytes(b[36..40].try_into().unwrap()), 4096);
        assert_eq!(u32::from_le_bytes(b[40..44].try_into().unwrap()), 8); // slba lo
        assert_eq!(u32::from_le_bytes(b[44..48].try_into().unwrap()), 1); // slba hi
        assert_eq!(
            u32::from_le_bytes(b[48..52].try_into().unwrap()),
            7 | CDW12_FUA
        );
        assert_eq!(
            NVME_URING_CMD_IO,
            (3 << 30) | (72 << 16) | ((b'N' as u32) << 8) | 0x80
        );
    }
}
