//! Real local servers for tests and the demo: nothing here is used by the watchdog itself.
pub mod ministack;
pub mod pki;
pub mod receiver;
pub mod s3_server;
pub mod spawned;

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago: for a server a test starts,
/// or for an address where a test needs nothing to listen.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("127.0.0.1 has a free port")
        .port()
}
