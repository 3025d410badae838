//! An HTTP/1.1 proxy in front of moto's S3 that records every request and, when faulty,
//! answers the first try of each request 503 `SlowDown` (S3's throttling answer, with its
//! XML body): every call is retried once, deterministically. The first try is either refused
//! before it reaches moto ([`Fault::Refuse`]) or carried out and only its answer replaced
//! ([`Fault::LoseAnswer`]), as when a write succeeds and the connection drops.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What happens to the first try of each request while the proxy is faulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Refuse,
    LoseAnswer,
}

#[derive(Default)]
struct Stats {
    /// Every request, as `METHOD target`.
    requests: Mutex<Vec<String>>,
    /// Requests refused once already.
    refused: Mutex<HashSet<String>>,
    injected: AtomicUsize,
    faulty: AtomicBool,
    lose_answer: AtomicBool,
}

pub struct Proxy {
    pub url: String,
    stats: Arc<Stats>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(Stats::default());
        let (shared, upstream) = (Arc::clone(&stats), upstream.to_string());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, upstream.clone(), Arc::clone(&shared)));
            }
        });
        Proxy { url, stats }
    }

    pub fn requests(&self) -> Vec<String> {
        self.stats.requests.lock().unwrap().clone()
    }

    /// Requests other than reads.
    pub fn writes(&self) -> Vec<String> {
        let reads = ["GET ", "HEAD "];
        let all = self.requests();
        all.into_iter()
            .filter(|r| !reads.iter().any(|m| r.starts_with(m)))
            .collect()
    }

    pub fn reset(&self) {
        self.stats.requests.lock().unwrap().clear();
    }

    /// Fails the first try of each request from now on, as `fault` says.
    pub fn fail_first_tries(&self, fault: Fault) {
        let lose = fault == Fault::LoseAnswer;
        // Requests seen so far count as not tried yet.
        self.stats.refused.lock().unwrap().clear();
        self.stats.lose_answer.store(lose, Ordering::SeqCst);
        self.stats.faulty.store(true, Ordering::SeqCst);
    }

    pub fn injected(&self) -> usize {
        self.stats.injected.load(Ordering::SeqCst)
    }
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut headers, mut length) = (Vec::new(), 0);
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        if k.eq_ignore_ascii_case("content-length") {
            length = v.trim().parse().ok()?;
        }
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

const SLOW_DOWN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
<Message>Please reduce your request rate.</Message><RequestId>injected</RequestId></Error>";

async fn serve(socket: TcpStream, upstream: String, stats: Arc<Stats>) {
    dagship::gcp::auth::install_crypto();
    let client = reqwest::Client::new();
    let mut reader = BufReader::new(socket);
    while let Some(req) = read_request(&mut reader).await {
        let line = format!("{} {}", req.method, req.target);
        stats.requests.lock().unwrap().push(line.clone());
        let first_try = stats.refused.lock().unwrap().insert(line);
        let fail = stats.faulty.load(Ordering::SeqCst) && first_try;
        let lose_answer = stats.lose_answer.load(Ordering::SeqCst);
        if fail && !lose_answer {
            stats.injected.fetch_add(1, Ordering::SeqCst);
            let headers = [("content-type".to_string(), "application/xml".to_string())];
            if respond(reader.get_mut(), 503, &headers, SLOW_DOWN.as_bytes())
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let mut forward = client.request(
            req.method.parse().unwrap(),
            format!("{upstream}{}", req.target),
        );
        for (k, v) in &req.headers {
            // The signature covers `host`: moto does not check it, and reqwest sets its own.
            if !["host", "content-length", "connection"].contains(&k.to_ascii_lowercase().as_str())
            {
                forward = forward.header(k, v);
            }
        }
        let Ok(reply) = forward.body(req.body).send().await else {
            return;
        };
        let status = reply.status().as_u16();
        let headers: Vec<(String, String)> = reply
            .headers()
            .iter()
            .filter(|(k, _)| {
                !["content-length", "transfer-encoding", "connection"].contains(&k.as_str())
            })
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = reply.bytes().await.unwrap_or_default();
        if fail {
            stats.injected.fetch_add(1, Ordering::SeqCst);
            let headers = [("content-type".to_string(), "application/xml".to_string())];
            if respond(reader.get_mut(), 503, &headers, SLOW_DOWN.as_bytes())
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let head_only = req.method == "HEAD";
        let body: &[u8] = if head_only { &[] } else { &body };
        if respond(reader.get_mut(), status, &headers, body)
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn respond(
    socket: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    if !headers.iter().any(|(k, _)| k == "content-length") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    socket.flush().await
}
