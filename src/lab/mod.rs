//! A local laboratory of real servers for tests and demos.
pub mod bind;
