//! Work on independent items (layer transfers, layer compression) runs
//! several at a time: a fixed number of scoped threads take items in
//! order, and the first failure stops the others from starting new items
//! (the ones running finish).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `work` on every item with at most `jobs` threads; the results in
/// item order, or the first error in item order.
pub fn for_each<T: Sync, R: Send, E: Send>(items: &[T], jobs: usize, work: impl Fn(&T) -> Result<R, E> + Sync) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R, E>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let result = work(item);
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                if let Ok(mut results) = results.lock() {
                    results[index] = Some(result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut done = Vec::with_capacity(items.len());
    for result in results.into_iter().flatten() {
        done.push(result?);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_reports_the_first_error() {
        let items: Vec<u32> = (0..20).collect();
        assert_eq!(super::for_each(&items, 4, |i| Ok::<_, ()>(i * 2)).unwrap(), items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let failed = super::for_each(&items, 3, |i| if *i == 5 { Err(*i) } else { Ok(*i) });
        assert_eq!(failed, Err(5));
    }
}
