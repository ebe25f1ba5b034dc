//! Several collector processes on one PostgreSQL database are one logical collector: a batch
//! is stored once whichever node gets it, a deletion through one node is seen by every node and
//! its receipt is the same from all of them, totals come from the database, and nodes starting
//! together migrate the schema once.
//!
//! PostgreSQL only: without `CONSENTGATE_TEST_PG_URL` each test prints one line and passes.

mod common;

mod postgres {
    use std::thread;

    use consentgate_collector::{Collector, CollectorConfig};
    use serde_json::Value;

    use crate::common::{batch, deletion, id, post_batch, post_deletion, Engine};

    fn engine(test: &str) -> Option<Engine> {
        Engine::postgres(test)
    }

    /// What `reply` says, for a reply that must be a 200.
    fn answered(reply: std::io::Result<crate::common::Reply>) -> Value {
        let reply = reply.expect("answered");
        assert_eq!(
            reply.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()
    }

    #[test]
    fn two_nodes_receiving_the_same_batches_concurrently_store_each_once() {
        let Some(engine) =
            engine("two_nodes_receiving_the_same_batches_concurrently_store_each_once")
        else {
            return;
        };
        let db = engine.fresh();
        let (a, b) = (db.collector(0.0, 0), db.collector(0.0, 0));
        let nodes = [a.addr(), b.addr()];
        const BATCHES: usize = 40;
        const COPIES: usize = 3;
        // Every batch goes to both nodes, COPIES times each, from 2 * COPIES threads at once.
        let accepted: usize = thread::scope(|s| {
            let workers: Vec<_> = (0..2 * COPIES)
                .map(|worker| {
                    s.spawn(move || {
                        let mut accepted = 0;
                        for i in 0..BATCHES {
                            let doc =
                                batch(&id(&format!("b-{i}")), &id(&format!("inst-{}", i % 5)), 7);
                            let answer = answered(post_batch(nodes[(i + worker) % 2], &doc));
                            accepted += usize::from(answer["status"] == "accepted");
                        }
                        accepted
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("client")).sum()
        });
        assert_eq!(
            accepted, BATCHES,
            "each batch accepted by exactly one node, once"
        );
        let (from_a, from_b) = (a.stats(), b.stats());
        assert_eq!(from_a, from_b, "both nodes answer from the database");
        assert_eq!(
            (from_a.batches, from_a.events, from_a.installations),
            (BATCHES as u64, 7 * BATCHES as u64, 5)
        );
        assert_eq!(from_a.duplicates, (2 * COPIES * BATCHES - BATCHES) as u64);
        assert_eq!(
            db.pg_query_i64("SELECT count(*) FROM events"),
            7 * BATCHES as i64,
            "no event row twice"
        );
    }

    #[test]
    fn g6_deletion_through_node_a_is_seen_by_node_b_with_the_same_receipt() {
        let Some(engine) =
            engine("g6_deletion_through_node_a_is_seen_by_node_b_with_the_same_receipt")
        else {
            return;
        };
        let db = engine.fresh();
        let (a, b) = (db.collector(0.0, 0), db.collector(0.0, 0));
        let (inst, other) = (id("inst-a"), id("inst-b"));
        answered(post_batch(a.addr(), &batch(&id("b-1"), &inst, 3)));
        answered(post_batch(b.addr(), &batch(&id("b-2"), &inst, 4)));
        answered(post_batch(b.addr(), &batch(&id("b-3"), &other, 2)));
        assert_eq!(b.installation(&inst).events, 7);

        let request = deletion(&id("del-1"), &[&inst], None);
        let first = answered(post_deletion(a.addr(), &request));
        let seen_by_b = b.installation(&inst);
        assert_eq!(
            (seen_by_b.events, seen_by_b.batches, seen_by_b.deleted),
            (0, 0, true)
        );
        assert_eq!(b.installation(&other).events, 2);
        let again = answered(post_deletion(b.addr(), &request));
        assert_eq!(
            again["receipt_id"], first["receipt_id"],
            "same receipt from node B"
        );
        assert_eq!((a.stats().deletions, b.stats().deletions), (1, 1));

        // The same new request at both nodes at once: processed once, one receipt.
        let request = deletion(&id("del-2"), &[&other], None);
        let receipts: Vec<Value> = thread::scope(|s| {
            let sends: Vec<_> = [a.addr(), b.addr(), a.addr(), b.addr()]
                .into_iter()
                .map(|node| {
                    let request = &request;
                    s.spawn(move || answered(post_deletion(node, request))["receipt_id"].clone())
                })
                .collect();
            sends
                .into_iter()
                .map(|h| h.join().expect("client"))
                .collect()
        });
        assert!(receipts.iter().all(|r| r == &receipts[0]), "{receipts:?}");
        assert_eq!(a.stats().deletions, 2);
        assert_eq!(db.pg_query_i64("SELECT count(*) FROM erasures"), 2);
    }

    #[test]
    fn nodes_starting_together_apply_each_migration_once() {
        let Some(engine) = engine("nodes_starting_together_apply_each_migration_once") else {
            return;
        };
        let db = engine.fresh();
        let nodes: Vec<Collector> = thread::scope(|s| {
            let starts: Vec<_> = (0..4).map(|_| s.spawn(|| db.collector(0.0, 0))).collect();
            starts
                .into_iter()
                .map(|h| h.join().expect("start"))
                .collect()
        });
        assert_eq!(nodes.len(), 4);
        assert_eq!(
            db.pg_query_i64("SELECT count(*)::bigint FROM collector_migrations"),
            1
        );
        drop(nodes);

        // A database a newer collector migrated is refused, naming why.
        db.pg_query_i64(
            "WITH v AS (INSERT INTO collector_migrations(version, name) VALUES (99, 'future')
                        RETURNING version) SELECT version::bigint FROM v",
        );
        let err = Collector::start(CollectorConfig::with_database(db.database.clone()))
            .expect_err("newer schema");
        assert!(
            err.to_string().contains("newer than this collector"),
            "{err}"
        );
    }

    /// Needs no server: nothing listens on port 1.
    #[test]
    fn an_unreachable_server_is_an_error_naming_it_without_the_password() {
        let config = CollectorConfig::with_database(consentgate_collector::Database::parse(
            "postgres://app:s3cret@127.0.0.1:1/nowhere?connect_timeout=2",
        ));
        let err = Collector::start(config).expect_err("nothing listens on port 1");
        let message = err.to_string();
        assert!(
            message.contains("127.0.0.1 port 1 database nowhere"),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }
}
