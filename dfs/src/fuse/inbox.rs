//! What the session thread hands the dfs thread: one [`Req`] per FUSE
//! request (arguments owned, the reply to send), queued in the
//! [`Inbox`] with the [`Ticket`] that watches it until answered.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::Mutex;

use fuser::{
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, TimeOrNow,
};
use obj::transport::BulkRef;
use tse::RemoteTask;

use super::perm::Caller;
use super::watch::Ticket;

/// One FUSE request, as the dfs thread needs it: the arguments (names
/// and data owned) and the reply to send.
#[derive(Debug)]
pub(crate) enum Req {
    Lookup {
        parent: u64,
        name: OsString,
        reply: ReplyEntry,
    },
    Forget {
        ino: u64,
        nlookup: u64,
    },
    GetAttr {
        ino: u64,
        reply: ReplyAttr,
    },
    SetAttr {
        ino: u64,
        fh: Option<u64>,
        caller: Caller,
        set: SetAttr,
        reply: ReplyAttr,
    },
    ReadLink {
        ino: u64,
        reply: ReplyData,
    },
    Mknod {
        parent: u64,
        caller: Caller,
        name: OsString,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    },
    Link {
        ino: u64,
        newparent: u64,
        newname: OsString,
        reply: ReplyEntry,
    },
    SetXattr {
        ino: u64,
        name: OsString,
        value: Vec<u8>,
        flags: i32,
        reply: ReplyEmpty,
    },
    GetXattr {
        ino: u64,
        name: OsString,
        size: u32,
        reply: ReplyXattr,
    },
    ListXattr {
        ino: u64,
        size: u32,
        reply: ReplyXattr,
    },
    RemoveXattr {
        ino: u64,
        name: OsString,
        reply: ReplyEmpty,
    },
    Mkdir {
        parent: u64,
        caller: Caller,
        name: OsString,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    },
    Unlink {
        parent: u64,
        name: OsString,
        reply: ReplyEmpty,
    },
    Rmdir {
        parent: u64,
        name: OsString,
        reply: ReplyEmpty,
    },
    Symlink {
        parent: u64,
        caller: Caller,
        name: OsString,
        target: OsString,
        reply: ReplyEntry,
    },
    Rename {
        parent: u64,
        name: OsString,
        newparent: u64,
        newname: OsString,
        flags: RenameFlags,
        reply: ReplyEmpty,
    },
    Open {
        ino: u64,
        flags: i32,
        reply: ReplyOpen,
    },
    Create {
        parent: u64,
        caller: Caller,
        name: OsString,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    },
    Read {
        fh: u64,
        offset: u64,
        size: u32,
        reply: ReplyData,
    },
    Write {
        fh: u64,
        offset: u64,
        data: BulkRef,
        reply: ReplyWrite,
    },
    /// `flush` (each `close`) and `fsync`: answered once the writes in
    /// flight on the handle are done.
    Sync {
        fh: u64,
        /// `fsync` (else `flush`).
        fsync: bool,
        reply: ReplyEmpty,
    },
    Release {
        fh: u64,
        reply: ReplyEmpty,
    },
    Fallocate {
        fh: u64,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    },
    OpenDir {
        ino: u64,
        reply: ReplyOpen,
    },
    ReadDir {
        ino: u64,
        fh: u64,
        offset: u64,
        reply: ReplyDirectory,
    },
    ReleaseDir {
        fh: u64,
        reply: ReplyEmpty,
    },
    StatFs {
        reply: ReplyStatfs,
    },
}

/// What a `setattr` changes.
#[derive(Debug, Default)]
pub(crate) struct SetAttr {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) size: Option<u64>,
    pub(crate) atime: Option<TimeOrNow>,
    pub(crate) mtime: Option<TimeOrNow>,
}

#[derive(Default)]
struct InboxState {
    /// Requests with the tickets that watch them until answered.
    reqs: VecDeque<(Req, Ticket)>,
    /// The dfs thread's wake-up task while it waits for requests.
    bell: Option<RemoteTask>,
    /// The session ended: no more requests will come.
    closed: bool,
}

/// Requests on their way from the session thread to the dfs thread.
#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
}

/// What [`Inbox::take`] found.
pub(crate) enum Taken {
    /// Requests to run, oldest first, each with its ticket.
    Reqs(VecDeque<(Req, Ticket)>),
    /// Nothing queued: the bell given was hung up and rings on the next
    /// post.
    Wait,
    /// Nothing queued and the session ended.
    Closed,
}

impl Inbox {
    /// Queues `r` (watched by ticket `t`) for the dfs thread and wakes
    /// it.
    pub(crate) fn post(&self, r: Req, t: Ticket) {
        let bell = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.reqs.push_back((r, t));
            st.bell.take()
        };
        if let Some(b) = bell {
            b.complete(0);
        }
    }

    /// Requests queued and not yet taken by the dfs thread.
    pub(crate) fn queued(&self) -> usize {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.reqs.len()
    }

    /// No more requests: the session ended. Wakes the dfs thread.
    pub(crate) fn close(&self) {
        let bell = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.closed = true;
            st.bell.take()
        };
        if let Some(b) = bell {
            b.complete(0);
        }
    }

    /// Takes every queued request; if there is none, hangs up `bell` (to
    /// be completed by the next [`post`](Self::post) or
    /// [`close`](Self::close)).
    pub(crate) fn take(&self, bell: impl FnOnce() -> RemoteTask) -> Taken {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.reqs.is_empty() {
            return Taken::Reqs(std::mem::take(&mut st.reqs));
        }
        if st.closed {
            return Taken::Closed;
        }
        st.bell = Some(bell());
        Taken::Wait
    }
}
