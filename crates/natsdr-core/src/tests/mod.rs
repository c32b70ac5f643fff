//! Tables of `decide`: exact decisions for the key rows, as pure event sequences, one module per
//! concern on one shared fixture.
mod detection;
mod failback;
mod fixture;
mod lease;
mod modes;
mod moves;
mod reason_messages;
