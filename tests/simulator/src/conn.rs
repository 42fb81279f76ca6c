//! The connections the simulator serves: every accepted TCP stream is
//! wrapped so that a response body can learn when all it has handed over
//! has been written to the socket (the `reset` fault needs this).
//!
//! Why: when a response body fails, hyper drops the connection at once,
//! with whatever it still buffers unsent. A `reset` body therefore waits,
//! after its last bytes, until the connection has flushed them: hyper
//! flushes the stream itself ([`AsyncWrite::poll_flush`]) only once its own
//! write buffer is empty, so a flush of the stream after the body has
//! armed its [`Flushes`] means every byte before it has reached the socket.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::server::lock;

/// The simulator's listener: a TCP listener handing out [`SimIo`]s.
pub(crate) struct SimListener(pub TcpListener);

impl Listener for SimListener {
    type Io = SimIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimIo, SocketAddr) {
        // axum's own accept loop (it retries on errors).
        let (stream, addr) = Listener::accept(&mut self.0).await;
        let io = SimIo {
            stream,
            flushes: Arc::default(),
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// One accepted connection: the stream, reporting its flushes.
pub(crate) struct SimIo {
    stream: TcpStream,
    flushes: Arc<Flushes>,
}

/// Tells a waiting response body when its connection has flushed.
#[derive(Default)]
pub(crate) struct Flushes {
    state: Mutex<FlushState>,
}

#[derive(Default)]
struct FlushState {
    /// The body waiting for the next flush, if any.
    waiting: Option<Waker>,
    /// Whether a flush has happened since the body started waiting.
    flushed: bool,
}

impl Flushes {
    /// Whether the connection has flushed since the first call (which
    /// starts the wait); until then, `cx` is woken by the next flush.
    pub fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = lock(&self.state);
        if state.flushed {
            return Poll::Ready(());
        }
        state.waiting = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Records a completed flush of the stream.
    fn flushed(&self) {
        let mut state = lock(&self.state);
        if let Some(waker) = state.waiting.take() {
            state.flushed = true;
            waker.wake();
        }
    }
}

/// The request extension (`ConnectInfo`) giving a handler its connection's
/// [`Flushes`].
#[derive(Clone)]
pub(crate) struct Conn(pub Arc<Flushes>);

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        Conn(stream.io().flushes.clone())
    }
}

impl AsyncRead for SimIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = std::task::ready!(Pin::new(&mut self.stream).poll_flush(cx));
        if result.is_ok() {
            self.flushes.flushed();
        }
        Poll::Ready(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
