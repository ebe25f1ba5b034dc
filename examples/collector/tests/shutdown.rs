//! SIGTERM during load: the binary stops accepting, finishes the requests it is in and exits
//! 0, and every batch it answered 2xx is in the database (on SQLite and on PostgreSQL).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{batch, id, post_batch, Engine};
use consentgate_collector::{Collector, CollectorConfig, Database};

on_both_engines!(sigterm_during_load_loses_no_answered_batch);

fn db_argument(database: &Database) -> String {
    match database {
        Database::Sqlite(path) => format!("sqlite:{}", path.display()),
        Database::Postgres(url) => url.clone(),
    }
}

fn sigterm_during_load_loses_no_answered_batch(engine: &Engine) {
    let db = engine.fresh();
    let mut child = Command::new(env!("CARGO_BIN_EXE_consentgate-collector"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--db",
            &db_argument(&db.database),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address");

    let answered = Mutex::new(Vec::<String>::new());
    let sent = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let (signalled_at, status) = thread::scope(|s| {
        for client in 0..8 {
            let (answered, sent, stopped) = (&answered, &sent, &stopped);
            s.spawn(move || {
                for i in 0.. {
                    if stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    let name = format!("c{client}-b{i}");
                    let doc = batch(&id(&name), &id(&format!("inst-{name}")), 50);
                    sent.fetch_add(1, Ordering::Relaxed);
                    match post_batch(addr, &doc) {
                        Ok(reply) if (200..300).contains(&reply.status) => {
                            answered.lock().expect("lock").push(name);
                        }
                        Ok(reply) => panic!("unexpected {} during shutdown", reply.status),
                        // Refused or cut: the client would retry; nothing was promised.
                        Err(_) => {}
                    }
                }
            });
        }
        // Under load for a moment, then SIGTERM while requests are in flight.
        while answered.lock().expect("lock").len() < 100 {
            thread::sleep(Duration::from_millis(5));
        }
        let signalled_at = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let status = child.wait().expect("collector exits");
        stopped.store(true, Ordering::Relaxed);
        (signalled_at.elapsed(), status)
    });
    assert!(status.success(), "collector exited with {status}");

    let answered = answered.into_inner().expect("lock");
    let after = Collector::start(CollectorConfig::with_database(db.database.clone()))
        .expect("restart on the same database");
    let lost: Vec<&String> = answered
        .iter()
        .filter(|name| after.installation(&id(&format!("inst-{name}"))).batches != 1)
        .collect();
    println!(
        "shutdown: {} batches sent, {} answered 2xx, {} lost, exit {:.0} ms after SIGTERM",
        sent.load(Ordering::Relaxed),
        answered.len(),
        lost.len(),
        signalled_at.as_secs_f64() * 1e3
    );
    assert!(lost.is_empty(), "answered 2xx but not stored: {lost:?}");
    let stats = after.stats();
    assert!(stats.batches >= answered.len() as u64, "{stats:?}");
    assert_eq!(stats.events, 50 * stats.batches, "no batch half-written");
}
