//! How many acknowledged registrations per second the store sustains, by
//! the number of concurrent writers. Not a pass/fail test; run it with
//!
//! ```text
//! cargo test --release --lib store::tests::bench -- --ignored --nocapture
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{register, setup};
use crate::store::Backend;
use crate::store::Store;

const RUN_FOR: Duration = Duration::from_secs(3);

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture, in release"]
fn registrations_per_second_by_writers() {
    for writers in [1, 8, 64] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("opened");
        let (journal, committer) = store.start().expect("committer started");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");

        let acknowledged: u64 = runtime.block_on(async {
            journal
                .commit(setup())
                .await
                .expect("answered")
                .expect("committed");
            let stop = Arc::new(AtomicBool::new(false));
            let tasks: Vec<_> = (0..writers)
                .map(|writer| {
                    let journal = journal.clone();
                    let stop = Arc::clone(&stop);
                    tokio::spawn(async move {
                        let mut done = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let id = format!("w{writer}-{done}");
                            let verdict = journal.commit(register("srv-1", &id)).await;
                            verdict.expect("answered").expect("committed");
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            tokio::time::sleep(RUN_FOR).await;
            stop.store(true, Ordering::Relaxed);
            let mut total = 0;
            for task in tasks {
                total += task.await.expect("writer finished");
            }
            total
        });
        drop(journal);
        committer.join().expect("committer ended cleanly");

        let rate = acknowledged as f64 / RUN_FOR.as_secs_f64();
        println!(
            "{writers:>3} writers: {rate:>9.0} registrations/s ({acknowledged} in {RUN_FOR:?})"
        );
        let started = Instant::now();
        let stored = Store::open(dir.path())
            .expect("reopened")
            .load()
            .expect("loaded");
        assert_eq!(stored.services[0].1.len() as u64, acknowledged);
        println!("              reloaded in {:?}", started.elapsed());
    }
}
