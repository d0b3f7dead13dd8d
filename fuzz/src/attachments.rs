//! `attachment_protocol`: sequences of `PUT`, `HEAD` and `GET` on
//! `/v1/attachments/{sha256}` through the real router, by the district's four devices,
//! with arbitrary names, offsets, declared sizes and bytes.
//!
//! Asserted: never a 5xx, never a panic; a `GET` that answers 200 carries exactly the bytes
//! whose SHA-256 is the name, as many as its `Content-Length`; the `x-xuncha-received`
//! of a 200 `PUT` is never more than the declared size; and once a device that may read
//! the template's record has completed a valid upload of an attachment the record
//! references, its `GET` of it answers 200.

use std::collections::HashMap;

use arbitrary::Unstructured;
use http::{Method, StatusCode};

use crate::edits;
use crate::server::{Server, attachment_contents, request, sha256_hex, template};

const RECEIVED: &str = "x-xuncha-received";

/// What a name stands for in one input.
#[derive(Clone)]
struct Name {
    path: String,
    /// The bytes whose SHA-256 the name is, when known.
    content: Option<Vec<u8>>,
    /// Whether the template's record references it.
    referenced: bool,
}

fn name(u: &mut Unstructured<'_>) -> arbitrary::Result<Name> {
    let contents = attachment_contents();
    Ok(match u.int_in_range(0u8..=9)? {
        0..=5 => {
            let content = u.choose(contents)?.clone();
            Name { path: sha256_hex(&content), content: Some(content), referenced: true }
        }
        6 | 7 => {
            // Bytes of the input's own: nothing references them.
            let content = edits::bytes(u, 600)?;
            Name { path: sha256_hex(&content), content: Some(content), referenced: false }
        }
        8 => {
            // A hex name, possibly upper-case, too short or too long.
            let len = u.int_in_range(0..=70)?;
            let path: String = (0..len)
                .map(|_| u.choose(b"0123456789abcdefABCDEF").map(|b| *b as char))
                .collect::<arbitrary::Result<_>>()?;
            Name { path, content: None, referenced: false }
        }
        _ => {
            // Anything, percent-encoded into the path.
            let bytes = edits::bytes(u, 80)?;
            let path = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            Name { path, content: None, referenced: false }
        }
    })
}

/// `check`: one sequence of at most twelve requests.
pub fn check(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let template = template();
    let server = template.server();
    let mut received: HashMap<(usize, String), u64> = HashMap::new();
    for _ in 0..12 {
        if u.is_empty() || step(&mut u, &server, &mut received).is_err() {
            break;
        }
    }
}

fn step(
    u: &mut Unstructured<'_>,
    server: &Server,
    received: &mut HashMap<(usize, String), u64>,
) -> arbitrary::Result<()> {
    let devices = &template().devices;
    let who = u.choose_index(devices.len())?;
    let device = &devices[who];
    let name = name(u)?;
    let uri = format!("/v1/attachments/{}", name.path);
    match u.int_in_range(0u8..=5)? {
        0..=2 => {
            let held = received.get(&(who, name.path.clone())).copied().unwrap_or(0);
            let content_len = name.content.as_ref().map_or(0, |c| c.len() as u64);
            let offset = match u.int_in_range(0u8..=5)? {
                0..=2 => held,
                3 => 0,
                4 => u.int_in_range(0..=content_len + 2)?,
                _ => u.arbitrary()?,
            };
            let size = match u.int_in_range(0u8..=5)? {
                0..=3 => content_len,
                4 => u.int_in_range(0..=content_len + 2)?,
                _ => u.arbitrary()?,
            };
            let body = match (&name.content, u.int_in_range(0u8..=5)?) {
                (Some(content), 0..=3) => {
                    // The next piece of the real bytes: from the offset, of some length.
                    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(content.len());
                    let rest = content.len() - start;
                    let len = if u.arbitrary()? { rest } else { u.int_in_range(0..=rest)? };
                    let mut piece = content[start..start + len].to_vec();
                    if u.ratio(1, 10)? && !piece.is_empty() {
                        let at = u.choose_index(piece.len())?;
                        piece[at] ^= 0x20;
                    }
                    piece
                }
                _ => edits::bytes(u, 200)?,
            };
            let query = if u.ratio(1, 12)? {
                // A malformed query.
                let raw = edits::bytes(u, 20)?;
                raw.iter().map(|b| format!("%{b:02X}")).collect::<String>()
            } else {
                format!("offset={offset}&size={size}")
            };
            let Some(put) = request(Method::PUT, &format!("{uri}?{query}"), &device.token, body) else {
                return Ok(());
            };
            let (status, headers, _) = server.send(put);
            if status == StatusCode::OK {
                let got = headers
                    .get(RECEIVED)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .expect("a 200 PUT says how much the server holds");
                let declared =
                    headers.get("x-xuncha-size").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
                if let Some(declared) = declared {
                    assert!(got <= declared, "PUT {uri}: received {got} of {declared}");
                }
                received.insert((who, name.path.clone()), got);
                // Completed a valid upload of an attachment the record references: the
                // device holds it and may read the record, so it reads the bytes.
                let completes = name.content.as_ref().is_some_and(|c| got == c.len() as u64 && declared == Some(got));
                if completes && name.referenced && who < 3 {
                    let get = request(Method::GET, &uri, &device.token, Vec::new()).expect("a GET");
                    let (status, _, body) = server.send(get);
                    assert_eq!(status, StatusCode::OK, "GET {uri} after device {who} completed it");
                    assert_eq!(sha256_hex(&body), name.path, "GET {uri}: the bytes match the name");
                }
            }
        }
        3 => {
            let Some(head) = request(Method::HEAD, &uri, &device.token, Vec::new()) else { return Ok(()) };
            let (status, headers, body) = server.send(head);
            assert!(body.is_empty(), "HEAD {uri} answered a body");
            if status == StatusCode::OK {
                let got = headers.get(RECEIVED).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
                assert!(got.is_some(), "HEAD {uri}: a 200 says how much the server holds");
            }
        }
        _ => {
            let Some(get) = request(Method::GET, &uri, &device.token, Vec::new()) else { return Ok(()) };
            let (status, headers, body) = server.send(get);
            if status == StatusCode::OK {
                assert_eq!(sha256_hex(&body), name.path, "GET {uri}: the bytes match the name");
                let length =
                    headers.get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
                assert_eq!(length, Some(body.len()), "GET {uri}: Content-Length is the length of the bytes");
            }
        }
    }
    Ok(())
}
