//! The handler the workers serve from, replaceable while they run (SIGHUP
//! swaps in a freshly rendered site). Workers never take the lock on the
//! hot path: each keeps its own `Arc` and compares one generation counter
//! per loop turn, so a swap costs a cache miss per worker, once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Handler;

pub struct HandlerCell {
    current: Mutex<Arc<dyn Handler>>,
    generation: AtomicU64,
}

impl HandlerCell {
    pub fn new(handler: Arc<dyn Handler>) -> Self {
        Self { current: Mutex::new(handler), generation: AtomicU64::new(0) }
    }

    /// Installs `handler` for requests that arrive from now on; requests
    /// already answered keep the bodies they hold (they are refcounted).
    pub fn replace(&self, handler: Arc<dyn Handler>) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        *current = handler;
        // Bumped under the lock, so a reader that sees the new generation
        // and then locks gets this handler or a newer one.
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn snapshot(&self) -> (u64, Arc<dyn Handler>) {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        (self.generation.load(Ordering::Acquire), Arc::clone(&current))
    }

    /// A worker's view of the cell.
    pub fn local(self: &Arc<Self>) -> LocalHandler {
        let (generation, handler) = self.snapshot();
        LocalHandler { cell: Arc::clone(self), generation, handler }
    }
}

/// One worker's copy of the current handler.
pub struct LocalHandler {
    cell: Arc<HandlerCell>,
    generation: u64,
    handler: Arc<dyn Handler>,
}

impl LocalHandler {
    /// Picks up a replacement, if there was one since the last call.
    pub fn refresh(&mut self) {
        if self.cell.generation.load(Ordering::Acquire) != self.generation {
            (self.generation, self.handler) = self.cell.snapshot();
        }
    }

    pub fn get(&self) -> &dyn Handler {
        self.handler.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Query, Response};

    struct Fixed(u16);

    impl Handler for Fixed {
        fn respond<'a>(&'a self, _: &Query<'_>) -> Response<'a> {
            Response { status: self.0, headers: &[], content_length: None, body: bytes::Bytes::new() }
        }
    }

    #[test]
    fn a_worker_sees_a_replacement_after_refresh() {
        let cell = Arc::new(HandlerCell::new(Arc::new(Fixed(200))));
        let mut local = cell.local();
        let head = crate::h2::conn::RequestHead::default();
        let head = Query::from_h2(&head);
        assert_eq!(local.get().respond(&head).status, 200);
        cell.replace(Arc::new(Fixed(503)));
        assert_eq!(local.get().respond(&head).status, 200, "no change before refresh");
        local.refresh();
        assert_eq!(local.get().respond(&head).status, 503);
    }
}
