//! Real local servers for tests and the demo: nothing here is used by the watchdog itself.
pub mod ministack;
pub mod pki;
pub mod receiver;
pub mod s3_server;
pub mod spawned;
