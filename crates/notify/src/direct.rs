//! Writing a frame from the dispatcher itself (`try_write`) when its connection is idle:
//! one non-blocking write to the socket, with no queue and no wake-up of the
//! connection's task. Otherwise (the task is writing, answering a message or still saying
//! hello, frames are queued before it, or the socket would block) the frame goes through
//! the connection's queue, as it always did.
//!
//! Order is kept by one rule: a frame is written directly only while the connection's
//! writer lock is free and nothing it was handed is still unwritten (`pending`). The task
//! takes the lock for every write of its own and counts down what it took from the queue
//! only after writing it, under the lock.

use crate::connection::Outgoing;
use crate::hub::Frame;
use futures::{FutureExt, Sink};
use std::{
    pin::Pin,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    task::{Context, Poll, Waker},
};

/// Frames written directly and frames queued, counted here and published to `/metrics`
/// by the dispatcher's tick ([`publish_counts`]): through the recorder per frame, the
/// count would cost a noticeable share of a direct write.
pub(crate) static WRITTEN_DIRECTLY: AtomicU64 = AtomicU64::new(0);
pub(crate) static QUEUED: AtomicU64 = AtomicU64::new(0);

/// `ws_frames_written_total{path="direct"|"queued"}`.
pub(crate) fn publish_counts() {
    metrics::counter!("ws_frames_written_total", "path" => "direct")
        .absolute(WRITTEN_DIRECTLY.load(Ordering::Relaxed));
    metrics::counter!("ws_frames_written_total", "path" => "queued")
        .absolute(QUEUED.load(Ordering::Relaxed));
}

/// What a connection's queue carries: a frame, or a reminder that a direct write left
/// bytes to flush.
#[derive(Debug)]
pub(crate) enum Queued {
    Frame(Frame),
    Flush,
}

/// The outcome of a direct write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// On the socket.
    Yes,
    /// Taken by the transport, which could not hand all of it to the socket: the
    /// connection's task must flush it.
    FlushOwed,
    /// Not written: queue it.
    No,
}

/// The dispatcher's handle on a connection's transport.
pub(crate) trait DirectWrite: Send + Sync {
    /// Writes `frame` now if the connection is idle, without waiting for anything.
    fn try_write(&self, frame: &Frame) -> Written;
    /// What was queued for the connection and is not yet written.
    fn pending(&self) -> &AtomicUsize;
}

/// A connection's transport, shared by its task and the dispatcher.
pub(crate) struct Writer<W> {
    pub(crate) sink: tokio::sync::Mutex<W>,
    pub(crate) pending: AtomicUsize,
}

impl<W> Writer<W> {
    pub(crate) fn new(sink: W) -> Self {
        Self {
            sink: tokio::sync::Mutex::new(sink),
            pending: AtomicUsize::new(0),
        }
    }
}

impl<W> DirectWrite for Writer<W>
where
    W: Sink<Outgoing> + Unpin + Send,
{
    fn try_write(&self, frame: &Frame) -> Written {
        let Ok(mut sink) = self.sink.try_lock() else {
            return Written::No;
        };
        if self.pending.load(Ordering::Acquire) != 0 {
            return Written::No;
        }
        // Polled once, never awaited: a socket that would block leaves the rest to the
        // task. Outside tokio's budget, which would otherwise refuse writes after the
        // first hundred or so of one dispatch.
        let write = std::future::poll_fn(|_| {
            let mut cx = Context::from_waker(Waker::noop());
            let mut sink = Pin::new(&mut *sink);
            match sink.as_mut().poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {}
                _ => return Poll::Ready(Written::No),
            }
            if sink
                .as_mut()
                .start_send(Outgoing::Text(frame.clone()))
                .is_err()
            {
                // Broken: the task finds out when it flushes.
                return Poll::Ready(Written::FlushOwed);
            }
            Poll::Ready(match sink.as_mut().poll_flush(&mut cx) {
                Poll::Ready(Ok(())) => Written::Yes,
                _ => Written::FlushOwed,
            })
        });
        tokio::task::unconstrained(write)
            .now_or_never()
            .unwrap_or(Written::No)
    }

    fn pending(&self) -> &AtomicUsize {
        &self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{StreamExt, channel::mpsc};

    fn frame(text: &str) -> Frame {
        Frame::new(text.to_owned())
    }

    fn text(out: Outgoing) -> String {
        match out {
            Outgoing::Text(frame) => frame.as_str().to_owned(),
            other => panic!("a text frame, not {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_idle_connection_is_written_at_once() {
        let (sink, mut socket) = mpsc::unbounded::<Outgoing>();
        let writer = Writer::new(sink);
        assert_eq!(writer.try_write(&frame("one")), Written::Yes);
        assert_eq!(writer.try_write(&frame("two")), Written::Yes);
        assert_eq!(text(socket.next().await.expect("one")), "one");
        assert_eq!(text(socket.next().await.expect("two")), "two");
    }

    #[tokio::test]
    async fn a_busy_or_behind_connection_is_not_written() {
        let (sink, mut socket) = mpsc::unbounded::<Outgoing>();
        let writer = Writer::new(sink);
        // Its task is writing (or answering a message, or saying hello).
        let held = writer.sink.lock().await;
        assert_eq!(writer.try_write(&frame("while held")), Written::No);
        drop(held);
        // Frames were queued before it and are not written yet.
        writer.pending.fetch_add(1, Ordering::AcqRel);
        assert_eq!(writer.try_write(&frame("behind the queue")), Written::No);
        writer.pending.fetch_sub(1, Ordering::AcqRel);
        assert_eq!(writer.try_write(&frame("idle")), Written::Yes);
        assert_eq!(text(socket.next().await.expect("idle")), "idle");
        assert!(socket.try_recv().is_err(), "nothing else was written");
    }

    /// A transport writing each frame's text to `io`.
    fn transport(
        io: tokio::io::DuplexStream,
    ) -> Pin<Box<impl Sink<Outgoing, Error = std::io::Error>>> {
        Box::pin(futures::sink::unfold(
            io,
            |mut io, out: Outgoing| async move {
                use tokio::io::AsyncWriteExt;
                io.write_all(text(out).as_bytes()).await?;
                Ok::<_, std::io::Error>(io)
            },
        ))
    }

    #[tokio::test]
    async fn a_socket_that_would_block_is_left_to_the_connections_task() {
        use futures::SinkExt;
        use tokio::io::AsyncReadExt;
        // Room for eight bytes, which nobody reads yet.
        let (client, mut server) = tokio::io::duplex(8);
        let writer = Writer::new(transport(client));
        assert_eq!(writer.try_write(&frame("12345678")), Written::Yes);
        // Taken, but not all on the socket: the task owes a flush (queued as `Flush`,
        // which counts as pending) ...
        assert_eq!(writer.try_write(&frame("blocked")), Written::FlushOwed);
        // ... and nothing overtakes it meanwhile.
        assert_eq!(writer.try_write(&frame("later")), Written::No);
        let mut first = [0u8; 8];
        server.read_exact(&mut first).await.expect("read");
        assert_eq!(&first, b"12345678");
        writer
            .sink
            .lock()
            .await
            .flush()
            .await
            .expect("the task flushes");
        let mut rest = [0u8; 7];
        server.read_exact(&mut rest).await.expect("read");
        assert_eq!(&rest, b"blocked");
    }

    #[tokio::test]
    async fn writes_are_not_cut_short_by_the_dispatchers_task_budget() {
        // One dispatch may write to thousands of sockets; tokio would refuse I/O after its
        // per-task budget (128) without `unconstrained`.
        let (client, server) = tokio::io::duplex(1 << 20);
        let writer = Writer::new(transport(client));
        for n in 0..1000 {
            assert_eq!(writer.try_write(&frame("x")), Written::Yes, "write {n}");
        }
        drop(writer);
        let mut read = String::new();
        use tokio::io::AsyncReadExt;
        let mut server = server;
        server.read_to_string(&mut read).await.expect("read");
        assert_eq!(read.len(), 1000);
    }
}
