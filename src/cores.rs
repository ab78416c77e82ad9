//! Start-up work split over the machine's cores: reading a large store and
//! compiling what it holds are independent per service, and a restart is
//! downtime for a single node.

use std::thread::ScopedJoinHandle;

/// Below this many items the work stays on the calling thread: starting
/// threads costs more than it saves.
const PARALLEL_FROM: usize = 1_000;

/// How many items each thread takes of `items`, or `None` when they are
/// better done on the calling thread (few items, or one core).
pub(crate) fn share_of(items: usize) -> Option<usize> {
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    (threads >= 2 && items >= PARALLEL_FROM).then(|| items.div_ceil(threads))
}

/// Waits for every worker and gives the first error; a worker's panic goes
/// on in the caller, as if the work had been done there.
pub(crate) fn join_all<'scope, E>(
    workers: impl IntoIterator<Item = ScopedJoinHandle<'scope, Result<(), E>>>,
) -> Result<(), E> {
    let mut first_error = Ok(());
    for worker in workers {
        let outcome = worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        if first_error.is_ok() {
            first_error = outcome;
        }
    }
    first_error
}
