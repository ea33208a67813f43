//! A connection's queue of outgoing frames, bounded in frames and in bytes.
//!
//! Counting frames alone would let 256 relayed chunks of the largest size
//! pile up for one slow reader; the byte bound keeps a slow tablet from
//! holding the relay's memory hostage.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use tokio::sync::mpsc;

/// Frames a connection may have queued before it counts as not keeping up.
const MAX_FRAMES: usize = 256;

/// Bytes a connection may have queued before it counts as not keeping up:
/// about a second of relayed sync at the default rate. A frame is taken
/// while the queue holds less than this, so any frame within the size limit
/// fits into an empty queue.
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// One frame for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Bytes),
}

impl Frame {
    fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(bytes) => bytes.len(),
        }
    }
}

/// The sending side, held by the room registry and the connection itself.
#[derive(Clone)]
pub struct Outbox {
    frames: mpsc::Sender<Frame>,
    queued_bytes: Arc<AtomicUsize>,
}

/// The receiving side, read by the connection's loop.
pub struct Queued {
    frames: mpsc::Receiver<Frame>,
    queued_bytes: Arc<AtomicUsize>,
}

/// The queue is full: the reader is not keeping up.
#[derive(Debug)]
pub struct Full;

pub fn outbox() -> (Outbox, Queued) {
    let (sender, receiver) = mpsc::channel(MAX_FRAMES);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    (Outbox { frames: sender, queued_bytes: queued_bytes.clone() }, Queued { frames: receiver, queued_bytes })
}

impl Outbox {
    /// Queues a frame without waiting.
    pub fn try_send(&self, frame: Frame) -> Result<(), Full> {
        let len = frame.len();
        // Senders of other connections race here; the bound may be passed by
        // a few frames at once, never by an unbounded amount.
        if self.queued_bytes.load(Ordering::Relaxed) >= MAX_BYTES {
            return Err(Full);
        }
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        self.frames.try_send(frame).map_err(|_| {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            Full
        })
    }
}

impl Queued {
    pub async fn recv(&mut self) -> Option<Frame> {
        let frame = self.frames.recv().await?;
        self.queued_bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_frames_and_bytes() {
        let (outbox, _queued) = super::outbox();
        for _ in 0..MAX_FRAMES {
            outbox.try_send(Frame::Text("x".into())).unwrap();
        }
        assert!(outbox.try_send(Frame::Text("x".into())).is_err(), "256 frames queued: full");

        let (outbox, mut queued) = super::outbox();
        let big = Bytes::from(vec![0; MAX_BYTES / 2]);
        outbox.try_send(Frame::Binary(big.clone())).unwrap();
        outbox.try_send(Frame::Binary(big.clone())).unwrap();
        assert!(outbox.try_send(Frame::Text("x".into())).is_err(), "8 MiB queued: full");
        let first = futures_util::FutureExt::now_or_never(queued.recv()).flatten();
        assert_eq!(first, Some(Frame::Binary(big.clone())));
        outbox.try_send(Frame::Binary(big)).expect("reading made room");
    }
}
