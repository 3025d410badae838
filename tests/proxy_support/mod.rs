//! The forwarding core of the tests' fault-injecting HTTP/1.1 proxies: it reads each request,
//! records it as `METHOD target`, asks the proxy's [`Faults`] what to do with it before it
//! reaches the server and after the server answered, and forwards or answers accordingly.
//! The faults are the proxies' own: fractions of Google's 429/503 and dropped connections
//! (`gcp_support/proxy.rs`), or S3's `SlowDown` on each first try (`aws_cloud/fault_proxy.rs`).

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What happens to a request at one point of its way.
pub enum Verdict {
    /// On to the server (before), or its answer on to the client (after).
    Pass,
    /// This answer instead (after: the server carried the request out, its answer is lost).
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// The connection is closed without an answer.
    Drop,
}

/// Decides the fate of each request (`METHOD target`).
pub trait Faults: Send + Sync + 'static {
    /// Before the request reaches the server.
    fn before(&self, request: &str) -> Verdict;
    /// After the server answered it.
    fn after(&self, request: &str) -> Verdict;
}

pub struct Proxy {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    pub async fn start(upstream: &str, faults: Arc<dyn Faults>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, upstream) = (Arc::clone(&requests), upstream.to_string());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (seen, faults) = (Arc::clone(&seen), Arc::clone(&faults));
                tokio::spawn(serve(socket, upstream.clone(), faults, seen));
            }
        });
        Proxy { url, requests }
    }

    /// Every request so far, as `METHOD target` (with its query).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        self.requests.lock().unwrap().clear();
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

/// The server's answer to `req`, or `None` when it could not be reached.
async fn forward(client: &reqwest::Client, upstream: &str, req: Request) -> Option<Verdict> {
    let mut forward = client.request(
        req.method.parse().unwrap(),
        format!("{upstream}{}", req.target),
    );
    for (k, v) in &req.headers {
        // reqwest sets its own `host` (an S3 signature covers it: moto does not check it).
        if !["host", "content-length", "connection"].contains(&k.to_ascii_lowercase().as_str()) {
            forward = forward.header(k, v);
        }
    }
    let reply = forward.body(req.body).send().await.ok()?;
    let status = reply.status().as_u16();
    let headers: Vec<(String, String)> = reply
        .headers()
        .iter()
        .filter(|(k, _)| {
            !["content-length", "transfer-encoding", "connection"].contains(&k.as_str())
        })
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = reply.bytes().await.unwrap_or_default().to_vec();
    Some(Verdict::Answer {
        status,
        headers,
        body,
    })
}

async fn serve(
    socket: TcpStream,
    upstream: String,
    faults: Arc<dyn Faults>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    dagship::gcp::auth::install_crypto();
    let client = reqwest::Client::new();
    let mut reader = BufReader::new(socket);
    while let Some(req) = read_request(&mut reader).await {
        let line = format!("{} {}", req.method, req.target);
        requests.lock().unwrap().push(line.clone());
        let head_only = req.method == "HEAD";
        let answer = match faults.before(&line) {
            Verdict::Pass => {
                let Some(answer) = forward(&client, &upstream, req).await else {
                    return;
                };
                match faults.after(&line) {
                    Verdict::Pass => answer,
                    other => other,
                }
            }
            other => other,
        };
        let Verdict::Answer {
            status,
            headers,
            body,
        } = answer
        else {
            return;
        };
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
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    socket.flush().await
}
