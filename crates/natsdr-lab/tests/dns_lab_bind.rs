//! The lab's BIND process: started, answering, and never left behind.
use std::path::Path;

use natsdr_lab::lab::bind::{BindError, BindServer, ZoneSpec};

fn running(pid: u32) -> bool {
    // A zombie has exited; only its parent's bookkeeping is left.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn dropping_the_server_kills_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = BindServer::start(dir.path(), &ZoneSpec::default())
        .expect("named must be installed (bind9) or NATSDR_NAMED set");
    let pid = server.pid();
    assert!(running(pid));
    assert!(std::net::TcpStream::connect(server.addr()).is_ok());

    drop(server);

    assert!(!running(pid));
}

#[test]
fn a_detached_server_outlives_its_handle_until_stopped_by_pid() {
    let dir = tempfile::tempdir().unwrap();
    let info = BindServer::spawn(dir.path(), &ZoneSpec::default())
        .expect("named must be installed (bind9) or NATSDR_NAMED set");
    assert!(running(info.pid));
    assert!(std::net::TcpStream::connect(info.addr).is_ok());

    info.stop().unwrap();

    assert!(!running(info.pid));
    // Stopping twice is fine: a lab may run `down` after a crash already took it.
    info.stop().unwrap();
}

#[test]
fn two_servers_run_side_by_side_on_different_ports() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spec = ZoneSpec {
        zone: "other.test".into(),
        ..ZoneSpec::default()
    };
    let first = BindServer::start(a.path(), &ZoneSpec::default()).unwrap();
    let second = BindServer::start(b.path(), &spec).unwrap();

    assert_ne!(first.addr(), second.addr());
    assert_eq!(second.zone(), "other.test");
    assert!(Path::new(&b.path().join("other.test.zone")).exists());
}

#[test]
fn named_is_killed_even_when_the_test_holding_it_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut pid = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let server = BindServer::start(dir.path(), &ZoneSpec::default()).unwrap();
        pid = Some(server.pid());
        panic!("a failing assertion while the server runs");
    }));

    assert!(outcome.is_err());
    assert!(!running(pid.expect("the server started")));
}

#[test]
fn a_zone_that_named_cannot_load_is_an_error_that_shows_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ZoneSpec {
        client_label: "not a label".into(),
        ..ZoneSpec::default()
    };

    let err = BindServer::start(dir.path(), &spec).unwrap_err();

    assert!(matches!(err, BindError::NotReady { .. }), "{err:?}");
    assert!(err.to_string().contains("dr.test"), "{err}");
}
