//! What `paystat record` and `paystat verify` need beyond a check: the gateway's reply as
//! received, and a last look for any configured credential in what is about to be written.

use super::{Checker, UnauditedCheck};
use crate::gateway::Reply;
use crate::result::{CheckResult, GatewayKind};

impl Checker {
    /// Checks one payment like [`Checker::check`], and also returns the gateway's last complete
    /// reply as received (for recording fixtures and verifying providers; never logged).
    pub async fn check_capturing(
        &self,
        id: &str,
    ) -> Result<(CheckResult, Option<Reply>), UnauditedCheck> {
        self.run(id, true, &super::Ask::default()).await
    }

    /// The configured gateway and the form of the first of its credentials echoed in `bytes`, in
    /// any form a gateway can echo it ([`crate::credential::echo`]); what `paystat record` asks of
    /// a fixture before writing it.
    pub fn echoed_secret(&self, bytes: &[u8]) -> Option<(GatewayKind, &'static str)> {
        self.endpoints.iter().find_map(|e| {
            e.echoes
                .find(bytes)
                .map(|(_, form)| (e.gateway.kind(), form.as_str()))
        })
    }
}
