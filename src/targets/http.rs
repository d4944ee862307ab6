//! `http` and `rest`: the canonical record as JSON, one POST each, with an `Idempotency-Key`
//! (the endpoint keeps the first answer per key), and a bearer token when one is configured.

use super::{Call, Reply};
use crate::config::Target;
use crate::store::DeliveryRow;

pub struct Http {
    url: String,
    token_env: Option<String>,
    token_file: Option<std::path::PathBuf>,
}

impl Http {
    pub fn new(t: &Target) -> Http {
        Http {
            url: t.url.clone(),
            token_env: t.token_env.clone(),
            token_file: t.token_file.clone(),
        }
    }

    pub fn send(&self, agent: &ureq::Agent, row: &DeliveryRow) -> Reply {
        let mut call = Call::new("POST", self.url.clone())
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", row.idem_key.clone());
        match crate::config::secret(&self.token_env, &self.token_file) {
            Ok(Some(t)) => call = call.header("Authorization", format!("Bearer {t}")),
            Ok(None) => {}
            Err(e) => return Reply::refused(format!("bearer token: {e}")),
        }
        call.body = Some(row.payload.clone());
        match call.send(agent) {
            Ok(a) => {
                let body = a.body.clone();
                Reply::of(a.response(body))
            }
            Err(e) => Reply::failed(e),
        }
    }
}
