//! A transport for tests: canned responses read in small chunks, requests recorded.

use std::collections::VecDeque;
use std::io::BufReader;

use crate::config::{Endpoint, HttpRequest};
use crate::transport::{HttpResponse, Transport};

/// A status and body, or a transport failure.
pub(crate) type CannedResponse = Result<(u16, String), String>;

/// Answers each post with the next canned response, read in small chunks; records requests.
pub(crate) struct Canned {
    pub(crate) responses: VecDeque<Result<(u16, String), String>>,
    /// Every request posted, in order.
    pub(crate) seen: Vec<HttpRequest>,
}

impl Transport for &mut Canned {
    type Body = BufReader<std::io::Cursor<Vec<u8>>>;

    fn post(
        &mut self,
        _endpoint: &Endpoint,
        request: &HttpRequest,
    ) -> Result<HttpResponse<Self::Body>, String> {
        self.seen.push(request.clone());
        let (status, body) = self
            .responses
            .pop_front()
            .expect("a canned response per request")?;
        Ok(HttpResponse {
            status,
            body: BufReader::with_capacity(7, std::io::Cursor::new(body.into_bytes())),
        })
    }
}

pub(crate) fn canned(responses: Vec<Result<(u16, String), String>>) -> Canned {
    Canned {
        responses: responses.into(),
        seen: Vec::new(),
    }
}
