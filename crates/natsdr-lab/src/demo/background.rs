//! What the demo's load generator and reader share: a task in the background keeping books
//! that can be read at any time, and stopped to get them for good.
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use hickory_net::NetError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::load::{Dialer, LoadTarget};

/// A background task keeping books of type `T`.
pub struct Background<T> {
    books: Arc<Mutex<T>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl<T: Clone + Default + Send + 'static> Background<T> {
    /// Spawns `run` with empty books and the signal that asks it to stop.
    pub(crate) fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(Arc<Mutex<T>>, watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let books = Arc::new(Mutex::new(T::default()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(Arc::clone(&books), stopped));
        Self { books, stop, task }
    }

    /// Builds a [`Dialer`] for `target` and spawns `run` with it; fails only when no resolver
    /// can be built.
    pub(crate) fn resolving<F, Fut>(target: LoadTarget, run: F) -> Result<Self, NetError>
    where
        F: FnOnce(Dialer, Arc<Mutex<T>>, watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let dialer = Dialer::new(target)?;
        Ok(Self::spawn(|books, stopped| run(dialer, books, stopped)))
    }

    /// A copy of the books so far.
    pub fn snapshot(&self) -> T {
        self.books
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Asks the task to stop, waits until it has, and returns the books.
    pub async fn stop(self) -> T {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let books = self.books.lock().unwrap_or_else(PoisonError::into_inner);
        books.clone()
    }
}
