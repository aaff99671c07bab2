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
    /// The store failed while the engine set up, opened or closed a
    /// target (its error kept whole: a damaged WAL stays
    /// [`vos::VosError::WalDamaged`]). Boxed: the store's error is large
    /// and rare, and every result of the object layer carries the enum.
    #[error("storage: {0}")]
    Vos(#[source] Box<vos::VosError>),
    /// The block layer failed while the engine opened the pool's device
    /// (its error kept whole: io_uring that cannot be set up stays
    /// [`bio::BioError::RingSetup`]).
    #[error("storage: {0}")]
    Bio(#[from] bio::BioError),
    /// The engine's own machinery failed with no lower error to carry (a
    /// target thread died, a trace file could not be written).
    #[error("storage: {0}")]
    Storage(String),
}

impl From<vos::VosError> for ObjError {
    fn from(e: vos::VosError) -> ObjError {
        ObjError::Vos(Box::new(e))
    }
}

impl ObjError {
    /// The DAOS-style status (`-DER_*`).
    pub fn rc(&self) -> i32 {
        use tse::der::*;
        match self {
            ObjError::Proto(_) => -DER_PROTO,
            ObjError::Unreachable(_) => -DER_STALE,
            ObjError::Failed { rc, .. } => *rc,
            // Whatever the lower layer's status, an engine that cannot
            // reach its storage is an I/O failure to the client.
            ObjError::Storage(_) | ObjError::Vos(_) | ObjError::Bio(_) => -DER_IO,
            ObjError::BadClass(_) | ObjError::Inval(_) => -DER_INVAL,
        }
    }
}
