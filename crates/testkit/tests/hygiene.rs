//! Tests leave nothing behind and take nothing from each other: test
//! databases that a run did not drop are dropped by later runs (and none
//! that a running test may still use); a port for a server to come is drawn
//! where no other test's connection is given it.

use sellerdesk_testkit::{drop_left_over, postgres_admin_url, LEFT_OVER_AFTER};
use sqlx::{Connection, Executor, PgConnection};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn name_made_at(at: SystemTime) -> String {
    let millis = at.duration_since(UNIX_EPOCH).unwrap().as_millis();
    // The rest of a v7 UUID after its 12 digits of milliseconds.
    format!("sd_test_{millis:012x}70008000000000000001")
}

async fn exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_one(conn)
        .await
        .map(|n: i64| n == 1)
        .unwrap()
}

#[tokio::test]
async fn a_test_database_left_from_long_ago_is_dropped_and_a_recent_one_kept() {
    let admin = postgres_admin_url().await;
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    // Made in the first millisecond of the epoch, it sorts before any other
    // left-over database on this server, so it is among the first dropped.
    let ancient = name_made_at(UNIX_EPOCH + Duration::from_millis(1));
    let now = SystemTime::now();
    let recent = name_made_at(now - LEFT_OVER_AFTER + Duration::from_secs(60));
    for name in [&ancient, &recent] {
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
    }

    let dropped = drop_left_over(&mut conn, now).await;

    // Another test's call may have dropped it first: what counts is that
    // it is gone.
    assert!(!exists(&mut conn, &ancient).await, "{dropped:?}");
    assert!(!dropped.contains(&recent), "{dropped:?}");
    assert!(exists(&mut conn, &recent).await);
    conn.execute(format!("DROP DATABASE {recent}").as_str())
        .await
        .unwrap();
}

#[test]
fn a_free_port_is_bindable_and_outside_the_ephemeral_range() {
    let ephemeral_from: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ports: std::collections::HashSet<u16> =
        (0..20).map(|_| sellerdesk_testkit::free_port()).collect();
    assert!(ports.len() > 15, "drawn at random: {ports:?}");
    for port in ports {
        assert!(port < ephemeral_from, "{port}");
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
