//! Worker processes that hold the scale scenario's WebSocket connections: the load
//! generator's one WebSocket client.
//!
//! One process may open at most 20,000 files, and one loopback source address has about
//! 28,000 ephemeral ports, so the connections are spread over `shiftwire-loadgen worker`
//! child processes, each binding its sockets to loopback source addresses of its own
//! (127.0.0.2, …). The driver speaks to each with JSON lines: [`Command`]s on its stdin,
//! [`Event`]s on its stdout. Frames are timestamped on arrival with the wall clock (UNIX
//! ns), which the driver compares with its own reading taken just before each POST.
//!
//! Clients follow `api-spec/websocket.md`: the first connection takes `hello.last_seq` as
//! its committed position; any later (re)connect sends `resume { last_seq }` and commits
//! `max(resumed.last_seq, highest seq received)` at `resumed`, each frame's `seq` after
//! that. A connection the server ends is reported and reconnected with `resume`.

use crate::fanout::poll_until;
use anyhow::{Context, anyhow, bail};
use clap::Args;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use shiftwire_core::ws::{ClientMessage, ServerMessage};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::{Ipv4Addr, SocketAddr},
    process::Stdio,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter},
    net::{TcpSocket, TcpStream},
    process::{Child, ChildStdin},
    sync::{Semaphore, mpsc, oneshot},
    task::JoinHandle,
    time::Instant,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, protocol::WebSocketConfig},
};
use uuid::Uuid;

/// Deadline of one connection: TCP connect, upgrade and `hello`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a client-initiated close waits for the server's Close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause before reconnecting a connection the server ended.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(250);
/// Pause between two JSON pings (the server allows 10 client messages a second).
const PING_GAP: Duration = Duration::from_millis(150);
/// How long one `pong` may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Bytes each client socket reads at a time (tungstenite's default, 128 KiB, is a lot
/// for thousands of sockets).
const WS_READ_BUFFER: usize = 8 * 1024;
/// Receipts written per `offers` line at most.
const RECEIPTS_PER_LINE: usize = 4096;

/// Wall-clock time in UNIX nanoseconds: comparable across the processes of a run.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// `ws://` URL of the server's `/v1/ws` (loopback only).
    #[arg(long)]
    ws_url: String,
    /// Loopback source addresses to bind client sockets to, used in turn.
    #[arg(long, value_delimiter = ',', required = true)]
    source_addrs: Vec<Ipv4Addr>,
    /// Connections opened at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Hard cap: the worker exits after this many seconds whatever happens.
    #[arg(long)]
    max_secs: u64,
}

/// Driver → worker, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Open a connection per (client, access token).
    Connect { clients: Vec<(u32, String)> },
    /// Close these clients' connections; they keep their committed `last_seq`.
    Drop { clients: Vec<u32> },
    /// Reconnect these clients and `resume` from their committed `last_seq`.
    Resume { clients: Vec<u32> },
    /// A JSON ping on a client's connection (answered by `pong`).
    Ping { client: u32 },
    /// Close every connection (answered by `closed`).
    CloseAll,
}

/// One offer as a client received it: client, shift id, arrival (UNIX ns), whether it
/// came before the connection's `resumed` (1: a replay, or live during one), and the
/// connection it came on (numbered by the worker, which keeps a client for the run).
pub type Receipt = (u32, Uuid, u64, u8, u32);

/// Worker → driver, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Ready {
        pid: u32,
    },
    /// A connection got its `hello`: `took_us` from just before the TCP connect.
    Opened {
        client: u32,
        took_us: u64,
        resuming: bool,
    },
    Failed {
        error: String,
        resuming: bool,
    },
    Offers(Vec<Receipt>),
    /// A `resumed`, with the number of offers its replay re-sent and the time from
    /// sending `resume` to reading `resumed`, µs.
    Resumed {
        offers: u32,
        took_us: u64,
    },
    /// A frame other than hello, offer, resumed or an asked-for pong.
    Frame(String),
    /// The server ended a connection (the client reconnects and resumes).
    Ended(String),
    /// A resuming connection ended (closed by the driver or the server) before its
    /// `resumed`: its client's committed position did not move, so the next `resume`
    /// covers the same gap again and may re-send what this connection received.
    Unresumed {
        client: u32,
        connection: u32,
    },
    /// A close the driver asked for is done.
    Dropped,
    /// The round trip of an asked-for ping, µs (none after `PING_TIMEOUT`: the driver
    /// counted that ping as lost).
    Pong(u64),
    /// Every connection is closed.
    Closed,
    /// The text of the first offer this worker received (the NATS baseline's payload).
    Sample(String),
}

// ------------------------------------------------------------------------------------
// The worker process.

struct Ctx {
    ws_url: String,
    server: SocketAddr,
    sources: Vec<Ipv4Addr>,
    connect_permits: Semaphore,
    events: mpsc::UnboundedSender<Event>,
    receipts: mpsc::UnboundedSender<Receipt>,
    sample_taken: std::sync::atomic::AtomicBool,
    /// Connections this worker opened: each has the next number.
    connections: std::sync::atomic::AtomicU32,
}

enum ConnCmd {
    Ping,
    Close(oneshot::Sender<()>),
}

struct ClientSlot {
    token: String,
    committed: Arc<AtomicI64>,
    conn: Option<(mpsc::Sender<ConnCmd>, JoinHandle<()>)>,
    /// The close of the previous connection, which a reconnect waits for: one client
    /// never has two connections at once.
    closing: Option<JoinHandle<()>>,
}

/// `shiftwire-loadgen worker`: runs until stdin ends or `--max-secs` pass.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let url: reqwest::Url = args.ws_url.parse().context("--ws-url")?;
    let host: std::net::IpAddr = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .context("--ws-url must name a loopback IP address")?;
    if url.scheme() != "ws" || !host.is_loopback() {
        bail!("--ws-url must be ws:// on the loopback interface");
    }
    if args.source_addrs.iter().any(|a| !a.is_loopback()) {
        bail!("--source-addrs must be loopback addresses");
    }
    let server = SocketAddr::new(host, url.port().unwrap_or(80));
    let (events, mut event_rx) = mpsc::unbounded_channel();
    let (receipts, mut receipt_rx) = mpsc::unbounded_channel::<Receipt>();
    let ctx = Arc::new(Ctx {
        ws_url: args.ws_url.clone(),
        server,
        sources: args.source_addrs.clone(),
        connect_permits: Semaphore::new(args.connect_concurrency.max(1)),
        events: events.clone(),
        receipts,
        sample_taken: Default::default(),
        connections: Default::default(),
    });

    // The writer: events as they come, receipts batched by what is waiting.
    let writer = tokio::spawn(async move {
        let mut out = BufWriter::with_capacity(1 << 16, tokio::io::stdout());
        let mut batch: Vec<Receipt> = Vec::new();
        loop {
            tokio::select! {
                biased;
                event = event_rx.recv() => match event {
                    Some(event) => write_line(&mut out, &event).await?,
                    None => break,
                },
                receipt = receipt_rx.recv() => match receipt {
                    Some(r) => {
                        batch.push(r);
                        while batch.len() < RECEIPTS_PER_LINE {
                            match receipt_rx.try_recv() {
                                Ok(r) => batch.push(r),
                                Err(_) => break,
                            }
                        }
                        let line = Event::Offers(std::mem::take(&mut batch));
                        write_line(&mut out, &line).await?;
                    }
                    None => break,
                },
            }
            // Flush once nothing more is waiting.
            if event_rx.is_empty() && receipt_rx.is_empty() {
                out.flush().await?;
            }
        }
        out.flush().await?;
        Ok::<_, std::io::Error>(())
    });
    let _ = events.send(Event::Ready {
        pid: std::process::id(),
    });

    let mut clients: HashMap<u32, ClientSlot> = HashMap::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let deadline = Instant::now() + Duration::from_secs(args.max_secs);
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            () = tokio::time::sleep_until(deadline) => {
                eprintln!("worker {}: hard cap of {}s reached", std::process::id(), args.max_secs);
                break;
            }
        };
        let Ok(Some(line)) = line else { break };
        let command: Command = match serde_json::from_str(&line) {
            Ok(c) => c,
            Err(error) => {
                eprintln!("worker: unreadable command ({error})");
                continue;
            }
        };
        match command {
            Command::Connect { clients: new } => {
                for (client, token) in new {
                    let committed = Arc::new(AtomicI64::new(0));
                    let conn =
                        spawn_conn(&ctx, client, token.clone(), committed.clone(), false, None);
                    clients.insert(
                        client,
                        ClientSlot {
                            token,
                            committed,
                            conn: Some(conn),
                            closing: None,
                        },
                    );
                }
            }
            Command::Drop { clients: ids } => {
                for id in ids {
                    if let Some(slot) = clients.get_mut(&id)
                        && let Some(conn) = slot.conn.take()
                    {
                        let events = events.clone();
                        slot.closing = Some(tokio::spawn(async move {
                            close(conn).await;
                            let _ = events.send(Event::Dropped);
                        }));
                    }
                }
            }
            Command::Resume { clients: ids } => {
                for id in ids {
                    if let Some(slot) = clients.get_mut(&id)
                        && slot.conn.is_none()
                    {
                        slot.conn = Some(spawn_conn(
                            &ctx,
                            id,
                            slot.token.clone(),
                            slot.committed.clone(),
                            true,
                            slot.closing.take(),
                        ));
                    }
                }
            }
            Command::Ping { client } => {
                if let Some((tx, _)) = clients.get(&client).and_then(|s| s.conn.as_ref()) {
                    let _ = tx.send(ConnCmd::Ping).await;
                }
            }
            Command::CloseAll => {
                close_all(&mut clients).await;
                let _ = events.send(Event::Closed);
            }
        }
    }
    close_all(&mut clients).await;
    drop(ctx);
    drop(events);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    Ok(())
}

/// Asks a connection to close and waits (bounded) until it has.
async fn close((tx, task): (mpsc::Sender<ConnCmd>, JoinHandle<()>)) {
    let closing = async {
        let (ack, acked) = oneshot::channel();
        if tx.send(ConnCmd::Close(ack)).await.is_ok() {
            let _ = acked.await;
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT * 2, closing).await;
    task.abort();
}

async fn close_all(clients: &mut HashMap<u32, ClientSlot>) {
    let open = clients.values_mut().filter_map(|slot| slot.conn.take());
    futures::future::join_all(open.map(close)).await;
}

async fn write_line(
    out: &mut BufWriter<tokio::io::Stdout>,
    event: &Event,
) -> Result<(), std::io::Error> {
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line).await
}

fn spawn_conn(
    ctx: &Arc<Ctx>,
    client: u32,
    token: String,
    committed: Arc<AtomicI64>,
    resuming: bool,
    after: Option<JoinHandle<()>>,
) -> (mpsc::Sender<ConnCmd>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4);
    let ctx = ctx.clone();
    let task = tokio::spawn(async move {
        if let Some(previous) = after {
            let _ = previous.await;
        }
        run_client(ctx, client, token, committed, resuming, rx).await;
    });
    (tx, task)
}

type Ws = WebSocketStream<TcpStream>;

async fn open(ctx: &Ctx, client: u32, token: &str) -> Result<(Ws, i64), String> {
    let _permit = ctx.connect_permits.acquire().await;
    let source = ctx.sources[client as usize % ctx.sources.len()];
    let attempt = async {
        let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {}", e.kind()))?;
        socket
            .bind(SocketAddr::new(source.into(), 0))
            .map_err(|e| format!("bind {source}: {}", e.kind()))?;
        let stream = socket
            .connect(ctx.server)
            .await
            .map_err(|e| format!("connect: {}", e.kind()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {}", e.kind()))?;
        let mut request = ctx
            .ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("bad request: {e}"))?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .map_err(|_| "token is not a header value".to_owned())?,
        );
        let config = WebSocketConfig::default().read_buffer_size(WS_READ_BUFFER);
        let (mut socket, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|e| ws_error(&e))?;
        loop {
            return match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ServerMessage>(&text) {
                        Ok(ServerMessage::Hello { last_seq, .. }) => Ok((socket, last_seq)),
                        Ok(other) => Err(format!("{} before hello", other.kind())),
                        Err(_) => Err("unreadable first frame".into()),
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => Err("binary frame before hello".into()),
                Some(Ok(Message::Close(frame))) => Err(format!(
                    "closed before hello ({})",
                    frame.map_or_else(|| "no code".into(), |f| u16::from(f.code).to_string())
                )),
                Some(Err(error)) => Err(ws_error(&error)),
                None => Err("ended before hello".into()),
            };
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err("timeout".into()))
}

/// The part of a `shift.offered` frame the worker reads; other fields are skipped.
#[derive(serde::Deserialize)]
struct OfferPeek<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    seq: i64,
    shift: ShiftIdPeek,
}

#[derive(serde::Deserialize)]
struct ShiftIdPeek {
    id: uuid::Uuid,
}

/// One client: connects (resuming if asked), reads every frame until told to close, and
/// reconnects with `resume` when the server ends the connection.
async fn run_client(
    ctx: Arc<Ctx>,
    client: u32,
    token: String,
    committed: Arc<AtomicI64>,
    mut resuming: bool,
    mut commands: mpsc::Receiver<ConnCmd>,
) {
    let send = |e: Event| {
        let _ = ctx.events.send(e);
    };
    let ping_text = serde_json::to_string(&ClientMessage::Ping {}).unwrap_or_default();
    loop {
        let started = Instant::now();
        let (mut socket, hello_seq) = match open(&ctx, client, &token).await {
            Ok(opened) => opened,
            Err(error) => {
                send(Event::Failed { error, resuming });
                if !resuming {
                    // A first connection that fails is reported, not retried: the run
                    // counts it as a failed connection.
                    return;
                }
                tokio::time::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
        };
        send(Event::Opened {
            client,
            took_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            resuming,
        });
        let connection = ctx.connections.fetch_add(1, Ordering::Relaxed);
        // Until `resumed`, frames do not move the committed position.
        let mut before_resumed = resuming;
        let mut highest = i64::MIN;
        // When `resume` went.
        let mut resume_sent = Instant::now();
        if resuming {
            let resume = ClientMessage::Resume {
                last_seq: committed.load(Ordering::SeqCst),
            };
            let text = serde_json::to_string(&resume).unwrap_or_default();
            if socket.send(Message::text(text)).await.is_err() {
                send(Event::Ended("sending resume failed".into()));
                tokio::time::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
            resume_sent = Instant::now();
        } else {
            committed.store(hello_seq, Ordering::SeqCst);
        }
        // When the asked-for ping went.
        let mut ping_sent: Option<Instant> = None;
        let ended: String = loop {
            let frame = tokio::select! {
                command = commands.recv() => match command {
                    Some(ConnCmd::Ping) => {
                        ping_sent = Some(Instant::now());
                        if socket.send(Message::text(ping_text.clone())).await.is_err() {
                            break "sending a ping failed".to_owned();
                        }
                        continue;
                    }
                    Some(ConnCmd::Close(ack)) => {
                        if before_resumed {
                            send(Event::Unresumed { client, connection });
                        }
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                            let _ = socket.close(None).await;
                            // The close handshake completes as the server's Close is read.
                            while let Some(Ok(_)) = socket.next().await {}
                        })
                        .await;
                        let _ = ack.send(());
                        return;
                    }
                    None => {
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(None)).await;
                        return;
                    }
                },
                frame = socket.next() => frame,
            };
            let t_ns = now_ns();
            let at = Instant::now();
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Binary(_))) => {
                    send(Event::Frame("binary frame".into()));
                    continue;
                }
                Some(Ok(Message::Close(frame))) => {
                    break format!(
                        "closed by the server ({})",
                        frame.map_or_else(|| "no code".into(), |f| u16::from(f.code).to_string())
                    );
                }
                Some(Err(error)) => break ws_error(&error),
                None => break "ended".into(),
            };
            // Offers are nearly every frame: read only their position and shift id (no
            // allocation); the worker judges nothing else of them. Other frames are read
            // whole.
            let (seq, offered, message) = match serde_json::from_str::<OfferPeek<'_>>(&text) {
                Ok(offer) if offer.kind == "shift.offered" => {
                    (Some(offer.seq), Some(offer.shift.id), None)
                }
                _ => match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(ServerMessage::ShiftOffered { seq, shift }) => {
                        (Some(seq), Some(shift.id), None)
                    }
                    Ok(message) => (message.seq(), None, Some(message)),
                    Err(_) => {
                        send(Event::Frame("unreadable frame".into()));
                        continue;
                    }
                },
            };
            if let Some(seq) = seq {
                highest = highest.max(seq);
                if !before_resumed {
                    committed.fetch_max(seq, Ordering::SeqCst);
                }
            }
            if let Some(shift_id) = offered {
                let replay = u8::from(before_resumed);
                let _ = ctx
                    .receipts
                    .send((client, shift_id, t_ns, replay, connection));
                if !ctx.sample_taken.swap(true, Ordering::Relaxed) {
                    send(Event::Sample(text.as_str().to_owned()));
                }
            }
            let Some(message) = message else {
                continue;
            };
            match message {
                ServerMessage::Resumed {
                    last_seq, offers, ..
                } => {
                    let took_us = u64::try_from((at - resume_sent).as_micros()).unwrap_or(u64::MAX);
                    if before_resumed {
                        before_resumed = false;
                        committed.store(last_seq.max(highest), Ordering::SeqCst);
                    }
                    send(Event::Resumed { offers, took_us });
                }
                ServerMessage::Pong => match ping_sent.take() {
                    Some(sent) if at - sent <= PING_TIMEOUT => {
                        send(Event::Pong(
                            u64::try_from((at - sent).as_micros()).unwrap_or(u64::MAX),
                        ));
                    }
                    Some(_) => {}
                    None => send(Event::Frame("pong (unasked)".into())),
                },
                ServerMessage::Error { code, .. } => send(Event::Frame(format!("error {code}"))),
                other => send(Event::Frame(other.kind().into())),
            }
        };
        if before_resumed {
            send(Event::Unresumed { client, connection });
        }
        send(Event::Ended(ended));
        resuming = true;
        tokio::time::sleep(RECONNECT_BACKOFF).await;
    }
}

fn ws_error(error: &tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Http(response) => format!("HTTP {}", response.status().as_u16()),
        tungstenite::Error::Io(e) => format!("I/O error ({})", e.kind()),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            "connection closed".into()
        }
        tungstenite::Error::Protocol(e) => format!("protocol error: {e}"),
        _ => "WebSocket error".into(),
    }
}

// ------------------------------------------------------------------------------------
// The driver's side.

/// An offer as the ledger keeps it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub client: u32,
    pub t_ns: u64,
    /// Arrived before its connection's `resumed`.
    pub replay: bool,
    /// The connection it came on (unique per client).
    pub connection: u32,
}

/// Everything the workers reported.
#[derive(Debug, Default)]
pub struct Ledger {
    pub ready: usize,
    pub worker_pids: Vec<u32>,
    pub offers: HashMap<Uuid, Vec<Delivery>>,
    /// Clients whose first connection got its `hello`.
    pub first_hello: HashSet<u32>,
    /// First connections: time to `hello`, µs.
    pub connect_us: Vec<u64>,
    /// Reconnections: time to `hello`, µs.
    pub reconnect_us: Vec<u64>,
    pub failed: BTreeMap<String, u64>,
    pub reconnect_failed: BTreeMap<String, u64>,
    pub ended: BTreeMap<String, u64>,
    /// Resuming connections (client, connection) that ended before their `resumed`.
    pub unresumed: HashSet<(u32, u32)>,
    pub other_frames: BTreeMap<String, u64>,
    /// Offers replayed, per `resumed` received.
    pub resumed: Vec<u32>,
    /// From `resume` sent to `resumed` read, µs, per `resumed` received.
    pub resume_us: Vec<u64>,
    pub dropped: u64,
    pub pongs_us: Vec<u64>,
    pub closed_workers: usize,
    pub sample: Option<String>,
    pub unreadable_lines: u64,
}

impl Ledger {
    fn apply(&mut self, event: Event) {
        let count = |map: &mut BTreeMap<String, u64>, kind| *map.entry(kind).or_default() += 1;
        match event {
            Event::Ready { pid } => {
                self.ready += 1;
                self.worker_pids.push(pid);
            }
            Event::Opened {
                took_us,
                resuming: true,
                ..
            } => self.reconnect_us.push(took_us),
            Event::Opened {
                client, took_us, ..
            } => {
                self.first_hello.insert(client);
                self.connect_us.push(took_us);
            }
            Event::Failed { error, resuming } if resuming => {
                count(&mut self.reconnect_failed, error)
            }
            Event::Failed { error, .. } => count(&mut self.failed, error),
            Event::Offers(receipts) => {
                for (client, shift, t_ns, replay, connection) in receipts {
                    let replay = replay != 0;
                    let delivery = Delivery {
                        client,
                        t_ns,
                        replay,
                        connection,
                    };
                    self.offers.entry(shift).or_default().push(delivery);
                }
            }
            Event::Resumed { offers, took_us } => {
                self.resumed.push(offers);
                self.resume_us.push(took_us);
            }
            Event::Frame(kind) => count(&mut self.other_frames, kind),
            Event::Ended(how) => count(&mut self.ended, how),
            Event::Unresumed { client, connection } => {
                self.unresumed.insert((client, connection));
            }
            Event::Dropped => self.dropped += 1,
            Event::Pong(rtt_us) => self.pongs_us.push(rtt_us),
            Event::Closed => self.closed_workers += 1,
            Event::Sample(text) => {
                self.sample.get_or_insert(text);
            }
        }
    }
}

pub type SharedLedger = Arc<Mutex<Ledger>>;

pub fn lock(ledger: &SharedLedger) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(PoisonError::into_inner)
}

struct WorkerProc {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The worker processes of one run, and what they reported.
pub struct Fleet {
    workers: Vec<WorkerProc>,
    readers: Vec<JoinHandle<()>>,
    pub ledger: SharedLedger,
    /// Which worker holds each client.
    assigned: HashMap<u32, usize>,
}

/// How to start the workers.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The `shiftwire-loadgen` binary.
    pub bin: std::path::PathBuf,
    pub workers: usize,
    pub ws_url: String,
    /// Loopback source addresses, dealt out to the workers in turn.
    pub source_addrs: Vec<Ipv4Addr>,
    pub connect_concurrency: usize,
    pub max_secs: u64,
}

/// `n` loopback source addresses from 127.0.0.2 on.
pub fn source_addrs(n: usize) -> Vec<Ipv4Addr> {
    (0..n.clamp(1, 250))
        .map(|i| Ipv4Addr::new(127, 0, 0, 2 + i as u8))
        .collect()
}

impl Fleet {
    pub async fn start(config: &FleetConfig) -> anyhow::Result<Self> {
        let n = config.workers.max(1);
        let ledger: SharedLedger = Arc::default();
        let mut workers = Vec::new();
        let mut readers = Vec::new();
        for w in 0..n {
            let mine: Vec<String> = config
                .source_addrs
                .iter()
                .enumerate()
                .filter(|(i, _)| i % n == w)
                .map(|(_, a)| a.to_string())
                .collect();
            let mine = if mine.is_empty() {
                vec![config.source_addrs[w % config.source_addrs.len()].to_string()]
            } else {
                mine
            };
            let mut child = tokio::process::Command::new(&config.bin)
                .arg("worker")
                .arg("--ws-url")
                .arg(&config.ws_url)
                .arg("--source-addrs")
                .arg(mine.join(","))
                .arg("--connect-concurrency")
                .arg(config.connect_concurrency.to_string())
                .arg("--max-secs")
                .arg(config.max_secs.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {} worker", config.bin.display()))?;
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| anyhow!("no worker stdout"))?;
            let stdin = child.stdin.take();
            let ledger = ledger.clone();
            readers.push(tokio::spawn(async move {
                let mut lines = BufReader::with_capacity(1 << 16, stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    match serde_json::from_str::<Event>(&line) {
                        Ok(event) => lock(&ledger).apply(event),
                        Err(_) => lock(&ledger).unreadable_lines += 1,
                    }
                }
            }));
            workers.push(WorkerProc { child, stdin });
        }
        let fleet = Fleet {
            workers,
            readers,
            ledger,
            assigned: HashMap::new(),
        };
        let ready = fleet
            .wait_until(Instant::now() + Duration::from_secs(10), |l| l.ready >= n)
            .await;
        if !ready {
            bail!("the worker processes did not start");
        }
        Ok(fleet)
    }

    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    async fn send(&mut self, worker: usize, command: &Command) -> anyhow::Result<()> {
        let stdin = self.workers[worker]
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("worker {worker} is closed"))?;
        let mut line = serde_json::to_vec(command)?;
        line.push(b'\n');
        stdin
            .write_all(&line)
            .await
            .with_context(|| format!("writing to worker {worker}"))?;
        stdin.flush().await?;
        Ok(())
    }

    /// Deals `clients` out to the workers in turn and asks each to connect its share.
    pub async fn connect(&mut self, clients: &[(u32, String)]) -> anyhow::Result<()> {
        let n = self.workers.len();
        let mut shares: Vec<Vec<(u32, String)>> = vec![Vec::new(); n];
        for (i, (client, token)) in clients.iter().enumerate() {
            shares[i % n].push((*client, token.clone()));
            self.assigned.insert(*client, i % n);
        }
        for (w, share) in shares.into_iter().enumerate() {
            if !share.is_empty() {
                self.send(w, &Command::Connect { clients: share }).await?;
            }
        }
        Ok(())
    }

    /// Sends each worker `command` for its share of `clients` (`Drop` or `Resume`).
    pub async fn tell(
        &mut self,
        clients: &[u32],
        command: fn(Vec<u32>) -> Command,
    ) -> anyhow::Result<()> {
        let mut shares = vec![Vec::new(); self.workers.len()];
        for c in clients {
            if let Some(&w) = self.assigned.get(c) {
                shares[w].push(*c);
            }
        }
        for (w, share) in shares.into_iter().enumerate() {
            if !share.is_empty() {
                self.send(w, &command(share)).await?;
            }
        }
        Ok(())
    }

    /// `n` JSON ping → pong round trips on `client`'s connection, one at a time: how
    /// many got no pong within `PING_TIMEOUT` (the others are in the ledger's `pongs_us`).
    pub async fn pings(&mut self, client: u32, n: u32) -> anyhow::Result<u64> {
        let w = *self
            .assigned
            .get(&client)
            .ok_or_else(|| anyhow!("client {client} is not connected"))?;
        let mut lost = 0;
        for _ in 0..n {
            let before = lock(&self.ledger).pongs_us.len();
            self.send(w, &Command::Ping { client }).await?;
            let due = Instant::now() + PING_TIMEOUT;
            lost += u64::from(!self.wait_until(due, |l| l.pongs_us.len() > before).await);
            tokio::time::sleep(PING_GAP).await;
        }
        Ok(lost)
    }

    /// Closes every connection (bounded) and waits for the workers to say so.
    pub async fn close_all(&mut self) -> anyhow::Result<()> {
        let before = lock(&self.ledger).closed_workers;
        for w in 0..self.workers.len() {
            self.send(w, &Command::CloseAll).await?;
        }
        let n = self.workers.len();
        self.wait_until(Instant::now() + Duration::from_secs(15), |l| {
            l.closed_workers >= before + n
        })
        .await;
        Ok(())
    }

    /// Polls the ledger every millisecond until `done` holds or `deadline` passes.
    pub async fn wait_until(&self, deadline: Instant, done: impl Fn(&Ledger) -> bool) -> bool {
        poll_until(deadline, || done(&lock(&self.ledger))).await
    }

    /// Ends the workers: closes their stdin (they close their connections and exit),
    /// waits a bounded time, then kills what is left.
    pub async fn shutdown(mut self) {
        for w in &mut self.workers {
            w.stdin = None;
        }
        for w in &mut self.workers {
            if tokio::time::timeout(Duration::from_secs(10), w.child.wait())
                .await
                .is_err()
            {
                let _ = w.child.kill().await;
            }
        }
        for r in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), r).await;
        }
    }
}

/// The `shiftwire-loadgen` binary that is running (the workers are the same program).
pub fn this_binary() -> anyhow::Result<std::path::PathBuf> {
    std::env::current_exe().context("finding the load generator's own binary")
}
