//! The normalized vocabulary: what a check concluded ([`Outcome`]) and, when the payment was
//! found, where the money stands ([`PaymentStatus`]).
//!
//! Operations read these words instead of three vendors' vocabularies, so each variant carries
//! its one-line meaning (and, for statuses, the action to take). The README tables and the
//! fixtures' mapping table are checked against these texts, so the documentation cannot drift.

use serde::{Deserialize, Serialize};

/// What a status check concluded, whatever the gateway.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The gateway knows the payment and said where it stands.
    Found,
    /// The gateway answered that no payment has this id.
    NotFound,
    /// The id was rejected locally; no request was sent.
    InvalidId,
    /// The gateway refused our credentials (HTTP 401 or 403).
    Unauthorized,
    /// The gateway refused the request as malformed (HTTP 400 or 422).
    BadRequest,
    /// The gateway asked us to slow down (HTTP 429).
    RateLimited,
    /// The gateway failed on its side (HTTP 5xx).
    GatewayError,
    /// No complete answer came back within the time allowed.
    Timeout,
    /// The gateway could not be reached (refused, reset, DNS).
    ConnectionError,
    /// The gateway answered something paystat cannot trust (not JSON, missing or ill-typed
    /// fields, a body over 1 MiB, an unexpected HTTP status).
    BadResponse,
    /// The run was interrupted (a second Ctrl-C or SIGTERM) before the gateway answered.
    Interrupted,
}

impl Outcome {
    /// Every outcome, in documentation order.
    pub const ALL: [Outcome; 11] = [
        Outcome::Found,
        Outcome::NotFound,
        Outcome::InvalidId,
        Outcome::Unauthorized,
        Outcome::BadRequest,
        Outcome::RateLimited,
        Outcome::GatewayError,
        Outcome::Timeout,
        Outcome::ConnectionError,
        Outcome::BadResponse,
        Outcome::Interrupted,
    ];

    /// The outcome a word names (`not_found`), if any.
    pub fn from_word(word: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == word)
    }

    /// The word used in output, audit lines and fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::NotFound => "not_found",
            Outcome::InvalidId => "invalid_id",
            Outcome::Unauthorized => "unauthorized",
            Outcome::BadRequest => "bad_request",
            Outcome::RateLimited => "rate_limited",
            Outcome::GatewayError => "gateway_error",
            Outcome::Timeout => "timeout",
            Outcome::ConnectionError => "connection_error",
            Outcome::BadResponse => "bad_response",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// One line for Operations: what this outcome means.
    pub fn meaning(self) -> &'static str {
        match self {
            Outcome::Found => {
                "The gateway knows the payment; read `status` for where the money stands."
            }
            Outcome::NotFound => {
                "The gateway said, with its own not-found error, that it has no payment with this id; check the id and the gateway."
            }
            Outcome::InvalidId => {
                "The id cannot be a payment id (empty, over 255 bytes, control characters, `.` or `..`); nothing was sent."
            }
            Outcome::Unauthorized => {
                "The gateway refused paystat's credentials (401/403); fix the token before retrying."
            }
            Outcome::BadRequest => {
                "The gateway refused the request as malformed (400/422); report it to the paystat maintainers."
            }
            Outcome::RateLimited => {
                "The gateway asked paystat to slow down (429); retry later or check fewer ids at once."
            }
            Outcome::GatewayError => {
                "The gateway failed on its side (5xx); retry later, escalate to the gateway's owner if it persists."
            }
            Outcome::Timeout => {
                "No complete answer arrived in time; the status is unknown, retry later."
            }
            Outcome::ConnectionError => {
                "The gateway could not be reached (refused, reset, DNS); check the base URL and the network."
            }
            Outcome::BadResponse => {
                "The gateway answered something paystat cannot trust (not JSON, missing or ill-typed fields, over 1 MiB, a 404 without its not-found error); for a 404 check the base URL, otherwise escalate to the gateway's owner."
            }
            Outcome::Interrupted => {
                "The run was stopped (a second Ctrl-C or SIGTERM) before the gateway answered; the request may have reached it, check again."
            }
        }
    }
}

impl Outcome {
    /// The vocabulary as a Markdown table (the README holds exactly this table).
    pub fn markdown_table() -> String {
        let mut table = String::from("| outcome | meaning for Operations |\n|---|---|\n");
        for outcome in Outcome::ALL {
            table.push_str(&format!(
                "| `{}` | {} |\n",
                outcome.as_str(),
                outcome.meaning()
            ));
        }
        table
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a found payment stands, in paystat's words.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaymentStatus {
    /// The money moved; nothing left to do.
    Completed,
    /// The payment is under way and has not settled yet.
    Pending,
    /// The funds are held (authorized) but not captured.
    Authorized,
    /// The payment waits for the customer or the merchant to act.
    RequiresAction,
    /// The payment failed; no money moved.
    Failed,
    /// The payment was canceled before money moved.
    Canceled,
    /// The money moved, then came back (for example an ACH return).
    Returned,
    /// The money moved, then the merchant sent all of it back (a refund).
    Refunded,
    /// The money moved, and the customer's bank disputes it (a chargeback under way).
    Disputed,
    /// The gateway used a word this version of paystat does not know.
    Unknown,
}

impl PaymentStatus {
    /// Every status, in documentation order.
    pub const ALL: [PaymentStatus; 10] = [
        PaymentStatus::Completed,
        PaymentStatus::Pending,
        PaymentStatus::Authorized,
        PaymentStatus::RequiresAction,
        PaymentStatus::Failed,
        PaymentStatus::Canceled,
        PaymentStatus::Returned,
        PaymentStatus::Refunded,
        PaymentStatus::Disputed,
        PaymentStatus::Unknown,
    ];

    /// The status a word names (`pending`), if any.
    pub fn from_word(word: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The word used in output, audit lines and fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Completed => "completed",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::RequiresAction => "requires_action",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::Returned => "returned",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Disputed => "disputed",
            PaymentStatus::Unknown => "unknown",
        }
    }

    /// One line for Operations: what this status means.
    pub fn meaning(self) -> &'static str {
        match self {
            PaymentStatus::Completed => "The money moved.",
            PaymentStatus::Pending => "The payment is under way and has not settled yet.",
            PaymentStatus::Authorized => {
                "The funds are held for the merchant but not yet captured."
            }
            PaymentStatus::RequiresAction => {
                "The payment waits for the customer or the merchant to act."
            }
            PaymentStatus::Failed => "The payment failed; no money moved.",
            PaymentStatus::Canceled => "The payment was canceled before money moved.",
            PaymentStatus::Returned => {
                "The money moved, then came back: the bank pulled it back (an ACH return) or a dispute was lost."
            }
            PaymentStatus::Refunded => {
                "The money moved, then the merchant sent all of it back (a refund); `amount_refunded_minor` says how much."
            }
            PaymentStatus::Disputed => {
                "The money moved, and the customer's bank disputes it; `dispute_status` says where the dispute stands."
            }
            PaymentStatus::Unknown => {
                "The gateway used a word this version of paystat does not know; `gateway_status` keeps it."
            }
        }
    }

    /// One line for Operations: what to do about a payment in this status.
    pub fn action(self) -> &'static str {
        match self {
            PaymentStatus::Completed => {
                "Nothing; until the `final_after` date, when there is one, an ACH return or a card dispute can still pull it back."
            }
            PaymentStatus::Pending => "Wait and check again later; do not ship or refund yet.",
            PaymentStatus::Authorized => {
                "Capture or release it in the gateway's dashboard before the authorization expires."
            }
            PaymentStatus::RequiresAction => {
                "Contact the customer (authentication or a new payment method is needed)."
            }
            PaymentStatus::Failed => {
                "Tell the customer; `failure_code` says why. Do not retry blindly."
            }
            PaymentStatus::Canceled => {
                "Nothing to collect; confirm with the customer if unexpected."
            }
            PaymentStatus::Returned => {
                "Treat the money as not received; `failure_code` (e.g. R01, or the dispute's reason) says why; start collections."
            }
            PaymentStatus::Refunded => {
                "Nothing to collect and nothing to ship: the customer has the money back. A partial refund stays `completed` with `amount_refunded_minor`."
            }
            PaymentStatus::Disputed => {
                "Answer the dispute in the gateway's dashboard before its deadline (evidence, tracking); hold the goods; the money is not safe until it is won."
            }
            PaymentStatus::Unknown => {
                "Escalate to the paystat maintainers to map the new word; read `gateway_status` meanwhile."
            }
        }
    }
}

impl PaymentStatus {
    /// The vocabulary as a Markdown table (the README holds exactly this table).
    pub fn markdown_table() -> String {
        let mut table =
            String::from("| status | meaning | what Operations should do |\n|---|---|---|\n");
        for status in PaymentStatus::ALL {
            table.push_str(&format!(
                "| `{}` | {} | {} |\n",
                status.as_str(),
                status.meaning(),
                status.action()
            ));
        }
        table
    }
}

/// Whether a found payment's answer can still change, as its gateway's adapter decides. The
/// status cache reuses an answer only when it cannot: `final`, or `final_after` once the date in
/// the result's `final_after` has passed.
#[cfg_attr(feature = "serve", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Finality {
    /// Nothing the gateway documents can change this answer any more.
    Final,
    /// The answer can still change until the end of the day in `final_after` (a return or
    /// dispute window), and not after it.
    FinalAfter,
    /// The payment is under way, or something about it is still open.
    Changing,
}

impl Finality {
    /// Every finality, in documentation order.
    pub const ALL: [Finality; 3] = [Finality::Final, Finality::FinalAfter, Finality::Changing];

    /// The word used in output, audit lines, the cache and fixtures.
    pub fn as_str(self) -> &'static str {
        match self {
            Finality::Final => "final",
            Finality::FinalAfter => "final_after",
            Finality::Changing => "changing",
        }
    }

    /// The finality named `word`, if any.
    pub fn from_word(word: &str) -> Option<Finality> {
        Finality::ALL.into_iter().find(|f| f.as_str() == word)
    }
}

impl std::fmt::Display for Finality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_serde_names() {
        for outcome in Outcome::ALL {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
        }
        for status in PaymentStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        for finality in Finality::ALL {
            let json = serde_json::to_string(&finality).unwrap();
            assert_eq!(json, format!("\"{}\"", finality.as_str()));
            assert_eq!(Finality::from_word(finality.as_str()), Some(finality));
        }
    }
}
