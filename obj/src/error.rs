//! The object layer's error type.

/// What can go wrong in the object layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjError {
    /// An unknown object class, or one the pool cannot hold.
    #[error("bad object class: {0}")]
    BadClass(String),
    /// A malformed or unexpected message on the wire.
    #[error("bad message: {0}")]
    Proto(String),
    /// A bad argument.
    #[error("invalid argument: {0}")]
    Inval(&'static str),
    /// A target could not be reached (not in the pool map, or stopped).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// An operation failed on an engine (or in a task) with a `-DER_*`
    /// status.
    #[error("{op} failed with status {rc} ({})", tse::der_name(*rc))]
    Failed {
        /// The operation (seed name).
        op: &'static str,
        /// The status.
        rc: i32,
    },
    /// Setting up or reaching the storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl ObjError {
    /// The DAOS-style status (`-DER_*`).
    pub fn rc(&self) -> i32 {
        use tse::der::*;
        match self {
            ObjError::Proto(_) => -DER_PROTO,
            ObjError::Unreachable(_) => -DER_STALE,
            ObjError::Failed { rc, .. } => *rc,
            ObjError::Storage(_) => -DER_IO,
            ObjError::BadClass(_) | ObjError::Inval(_) => -DER_INVAL,
        }
    }
}
