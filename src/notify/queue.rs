//! A bounded queue that never blocks the sender: when full, the oldest entry makes room.
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// Single-consumer FIFO with a fixed capacity. `push` takes a short lock and never awaits.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    wake: Notify,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// What `push` did with the entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed<T> {
    /// Queued with room to spare.
    Queued,
    /// Queued; this older entry was pushed out to make room.
    Evicted(T),
    /// The queue is closed; here is the entry back.
    Closed(T),
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.max(1)),
                closed: false,
            }),
            capacity: capacity.max(1),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // NB: no code panics while holding the lock, and the state stays valid if one did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `item` at the back, evicting the front when full.
    pub(crate) fn push(&self, item: T) -> Pushed<T> {
        let mut state = self.lock();
        if state.closed {
            return Pushed::Closed(item);
        }
        let evicted = if state.items.len() >= self.capacity {
            state.items.pop_front()
        } else {
            None
        };
        state.items.push_back(item);
        drop(state);
        self.wake.notify_one();
        evicted.map_or(Pushed::Queued, Pushed::Evicted)
    }

    /// The next entry; `None` once the queue is closed and empty.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            {
                let mut state = self.lock();
                if let Some(item) = state.items.pop_front() {
                    return Some(item);
                }
                if state.closed {
                    return None;
                }
            }
            // NB: `notify_one` stores a permit when no one waits, so a push between the check
            // above and this await is not lost.
            self.wake.notified().await;
        }
    }

    /// Refuses further pushes; the consumer drains what is queued, then sees `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    /// Empties the queue, returning what it held (for counting after an aborted drain).
    pub(crate) fn take_all(&self) -> Vec<T> {
        self.lock().items.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_evicts_its_oldest_entry_and_keeps_order() {
        let q = Queue::new(2);
        assert_eq!(q.push(1), Pushed::Queued);
        assert_eq!(q.push(2), Pushed::Queued);
        assert_eq!(q.push(3), Pushed::Evicted(1));
        assert_eq!(q.pop().await, Some(2));
        assert_eq!(q.pop().await, Some(3));
    }

    #[tokio::test]
    async fn a_closed_queue_refuses_pushes_and_drains_before_ending() {
        let q = Queue::new(4);
        q.push("a");
        q.close();
        assert_eq!(q.push("b"), Pushed::Closed("b"));
        assert_eq!(q.pop().await, Some("a"));
        assert_eq!(q.pop().await, None);
    }

    #[tokio::test]
    async fn a_waiting_consumer_wakes_on_push() {
        let q = std::sync::Arc::new(Queue::new(1));
        let consumer = tokio::spawn({
            let q = q.clone();
            async move { q.pop().await }
        });
        tokio::task::yield_now().await;
        q.push(42);
        assert_eq!(consumer.await.unwrap(), Some(42));
    }
}
