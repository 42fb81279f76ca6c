//! Test helpers: a tiny HTTP/1.1 client over `std::net::TcpStream`, request
//! builders, and a minimal XML tree built with quick-xml.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use dcsim::{SimConfig, Simulator};
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").expect("chunk size line");
        let size_text = std::str::from_utf8(&data[..line_end]).expect("chunk size");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            assert!(data.starts_with(b"\r\n"), "chunked body not terminated");
            return out;
        }
        out.extend_from_slice(&data[..size]);
        assert_eq!(&data[size..size + 2], b"\r\n", "chunk not followed by CRLF");
        data = &data[size + 2..];
    }
}

/// Sends one request (`Connection: close`) to `url` and reads the response.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = find(&raw, b"\r\n\r\n").expect("end of headers");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .expect("status code")
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').expect("header line");
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let raw_body = &raw[split + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(raw_body)
    } else if let Some((_, len)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let len: usize = len.parse().unwrap();
        assert_eq!(
            raw_body.len(),
            len,
            "body length differs from Content-Length"
        );
        raw_body.to_vec()
    } else {
        raw_body.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
        chunked,
    }
}

pub fn start(users: usize) -> Simulator {
    Simulator::start(SimConfig {
        users,
        ..SimConfig::default()
    })
    .expect("start simulator")
}

pub const LOGIN: &str =
    r#"<Session.loginRq userName="dcadmin" password="dcadmin-secret"></Session.loginRq>"#;

pub fn soap(ops: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><server><requests>{ops}</requests></server></soapenv:Body></soapenv:Envelope>"#
    )
}

pub fn bare(ops: &str) -> String {
    format!("<server><requests>{ops}</requests></server>")
}

/// POSTs a SOAP envelope around `ops`.
pub fn post_soap(sim: &Simulator, ops: &str) -> HttpResponse {
    http(
        "POST",
        &sim.endpoint_url(),
        &[
            ("Content-Type", "text/xml; charset=utf-8"),
            (
                "SOAPAction",
                "\"http://www.duckcreek.com/processRequestsAsDOM\"",
            ),
        ],
        soap(ops).as_bytes(),
    )
}

/// POSTs a bare `<server><requests>` document around `ops`.
pub fn post_xml(sim: &Simulator, ops: &str) -> HttpResponse {
    http(
        "POST",
        &sim.endpoint_url(),
        &[("Content-Type", "text/xml")],
        bare(ops).as_bytes(),
    )
}

/// A parsed XML element (local names, unescaped attribute values).
#[derive(Debug, Clone)]
pub struct El {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<El>,
    pub text: String,
}

impl El {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> &El {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}> child", self.name))
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> &El {
        names.iter().fold(self, |el, n| el.child(n))
    }

    pub fn child_names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

fn element(e: &BytesStart<'_>) -> El {
    El {
        name: e.local_name().into_inner().to_owned(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                (
                    a.key.into_inner().to_owned(),
                    a.normalized_value(XmlVersion::Implicit1_0)
                        .expect("attribute value")
                        .into_owned(),
                )
            })
            .collect(),
        children: Vec::new(),
        text: String::new(),
    }
}

/// Parses a whole document strictly; panics when it is not well-formed.
pub fn parse_xml(body: &[u8]) -> El {
    let text = std::str::from_utf8(body).expect("UTF-8 XML");
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<El> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => {
                let el = element(&e);
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let el = stack.pop().expect("balanced");
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let name = r.xml10_content();
                let c = match &*name {
                    "amp" => '&',
                    "lt" => '<',
                    "gt" => '>',
                    "quot" => '"',
                    "apos" => '\'',
                    _ => r.resolve_char_ref().unwrap().expect("known entity"),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements");
    root.expect("root element")
}

/// The `<responses>` element of a SOAP or bare response document.
pub fn responses(resp: &HttpResponse) -> El {
    assert_eq!(
        resp.status,
        200,
        "body: {}",
        String::from_utf8_lossy(&resp.body)
    );
    assert_eq!(resp.header("content-type"), Some("text/xml; charset=utf-8"));
    let root = parse_xml(&resp.body);
    match root.name.as_str() {
        "Envelope" => root
            .path(&[
                "Body",
                "processRequestsAsDOMResponse",
                "result",
                "server",
                "responses",
            ])
            .clone(),
        "server" => root.child("responses").clone(),
        other => panic!("unexpected root {other}"),
    }
}

/// (status, ExtendedStatusCd, ExtendedStatusDesc) of a response element.
pub fn outcome(rs: &El) -> (String, String, String) {
    let status = rs.attr("status").expect("status attribute").to_owned();
    if status == "Failure" {
        let ext = rs.child("ExtendedStatus");
        (
            status,
            ext.child("ExtendedStatusCd").text.clone(),
            ext.child("ExtendedStatusDesc").text.clone(),
        )
    } else {
        (status, String::new(), String::new())
    }
}

/// The [`outcome`] of a failed operation with `code` and `desc`.
pub fn failure(code: &str, desc: &str) -> (String, String, String) {
    ("Failure".into(), code.into(), desc.into())
}

/// The SOAP fault of a 500 response: (faultcode, faultstring, detail message).
pub fn soap_fault(resp: &HttpResponse) -> (String, String, Option<String>) {
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("content-type"), Some("text/xml; charset=utf-8"));
    let root = parse_xml(&resp.body);
    assert_eq!(root.name, "Envelope");
    let fault = root.path(&["Body", "Fault"]);
    let detail = fault
        .children
        .iter()
        .find(|c| c.name == "detail")
        .map(|d| d.child("message").text.clone());
    (
        fault.child("faultcode").text.clone(),
        fault.child("faultstring").text.clone(),
        detail,
    )
}
