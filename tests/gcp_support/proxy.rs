//! An HTTP/1.1 proxy in front of a local server that counts requests and, on request, fails a
//! fraction of them: 429 or 503 with Google's error body, or a dropped connection (before the
//! request reaches the server, or after it was carried out, so that only the answer is lost).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
pub struct Faults {
    /// Fraction of requests answered 429 or 503 without reaching the server.
    pub status: f64,
    /// Fraction of connections dropped before the request is forwarded.
    pub drop_before: f64,
    /// Fraction of connections dropped after the server answered.
    pub drop_after: f64,
}

#[derive(Default)]
pub struct Stats {
    /// Every request, as `METHOD path` (with query).
    pub requests: Mutex<Vec<String>>,
    pub injected: AtomicUsize,
    pub faulty: AtomicBool,
}

pub struct Proxy {
    pub url: String,
    pub stats: Arc<Stats>,
}

impl Proxy {
    pub async fn start(upstream: &str, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(Stats::default());
        stats.faulty.store(true, Ordering::SeqCst);
        let (faults, upstream) = (Arc::new(faults), upstream.to_string());
        let shared = Arc::clone(&stats);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (stats, faults, upstream) =
                    (Arc::clone(&shared), Arc::clone(&faults), upstream.clone());
                tokio::spawn(serve(socket, upstream, faults, stats));
            }
        });
        Proxy { url, stats }
    }

    pub fn requests(&self) -> Vec<String> {
        self.stats.requests.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        self.stats.requests.lock().unwrap().clear();
    }

    /// Stops (or resumes) injecting faults.
    pub fn faulty(&self, on: bool) {
        self.stats.faulty.store(on, Ordering::SeqCst);
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
    let mut headers = Vec::new();
    let mut length = 0;
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

async fn serve(socket: TcpStream, upstream: String, faults: Arc<Faults>, stats: Arc<Stats>) {
    let client = super::client();
    let mut reader = BufReader::new(socket);
    while let Some(req) = read_request(&mut reader).await {
        stats
            .requests
            .lock()
            .unwrap()
            .push(format!("{} {}", req.method, req.target));
        let faulty = stats.faulty.load(Ordering::SeqCst);
        let roll = fastrand::f64();
        if faulty && roll < faults.drop_before {
            stats.injected.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if faulty && roll < faults.drop_before + faults.status {
            stats.injected.fetch_add(1, Ordering::SeqCst);
            let code = if fastrand::bool() { 429 } else { 503 };
            let body = format!(
                r#"{{"error":{{"code":{code},"message":"injected fault","errors":[{{"reason":"backendError"}}]}}}}"#
            );
            if respond(reader.get_mut(), code, &[], body.as_bytes())
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
        if faulty && fastrand::f64() < faults.drop_after {
            stats.injected.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if respond(reader.get_mut(), status, &headers, &body)
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
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    socket.flush().await
}
