//! Releases: what each run, promotion or rollback deployed to an environment, recorded once
//! and never changed ([`record`]), kept in the environment's state store ([`store`]) beside
//! the lock that lets one run at a time change the environment ([`lock`]).

pub mod lock;
pub mod record;
pub mod store;
