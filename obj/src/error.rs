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
}

impl ObjError {
    /// The DAOS-style status (`-DER_*`).
    pub fn rc(&self) -> i32 {
        use tse::der::*;
        match self {
            ObjError::Proto(_) => -1014, // DER_PROTO
            _ => -DER_INVAL,
        }
    }
}
