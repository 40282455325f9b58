//! The metadata store's contract: every question and change the engine asks of its index, as
//! semantic operations (no SQL, no connections). `crate::sqlite` implements it; so will PostgreSQL.

mod objects;
mod buckets;
mod accounts;
mod uploads;
mod events;
mod replication;
mod lifecycle;
mod blobs;
mod service;
pub(crate) mod keyring;

pub use objects::{MetaChange, NewBody, ObjectIndex, VersionRef};
pub use buckets::BucketIndex;
pub use accounts::{AccountIndex, SealFn};
pub use uploads::UploadIndex;
pub use events::EventIndex;
pub use replication::ReplicationIndex;
pub use lifecycle::{LifecycleIndex, RestoreExpiry, StillDue};
pub use blobs::{BlobIndex, Wanted};
pub use service::ServiceIndex;
pub use keyring::{KeyringIndex, Versioned};

/// A whole metadata store: every domain's operations. `Store` holds one as `Arc<dyn Index>`.
pub trait Index: ObjectIndex + BucketIndex + AccountIndex + UploadIndex + EventIndex + ReplicationIndex + LifecycleIndex + BlobIndex + ServiceIndex + KeyringIndex + Send + Sync + 'static {}

impl<T> Index for T where T: ObjectIndex + BucketIndex + AccountIndex + UploadIndex + EventIndex + ReplicationIndex + LifecycleIndex + BlobIndex + ServiceIndex + KeyringIndex + Send + Sync + 'static {}
