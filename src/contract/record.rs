//! Recording a real response as a new scenario file, scrubbed.
//!
//! Fixtures should come from reality, not from memory: `paystat record` asks a gateway (a real
//! sandbox, or any base URL) about one payment and writes what came back as a scenario. Before
//! anything is written, everything secret or personal is scrubbed from the body — credentials
//! (`client_id`, `secret`, Stripe's `client_secret`, tokens), e-mail addresses, names, phone
//! numbers, addresses, and card numbers (only the last four digits kept) — and only harmless
//! headers are kept. The requirement is left as a placeholder that `paystat fixtures check`
//! refuses, so nothing unreviewed becomes a requirement.

use std::fmt::Write as _;

use serde_json::Value;

use crate::gateway::{GatewayKind, Reply};
use crate::result::CheckResult;

/// What replaces a scrubbed value.
pub const SCRUBBED: &str = "[SCRUBBED]";

/// The requirement a recorded scenario starts with; `fixtures check` refuses it.
pub const REQUIREMENT_PLACEHOLDER: &str = "TODO: write the requirement: the situation, and what Operations must see. `paystat fixtures check` refuses this file until a person has.";

/// Keys whose values are credentials.
const SECRET_KEYS: [&str; 8] = [
    "client_secret",
    "secret",
    "client_id",
    "access_token",
    "api_key",
    "password",
    "token",
    "authorization",
];

/// Keys whose values are about a person.
const PERSONAL_KEYS: [&str; 16] = [
    "email",
    "email_address",
    "receipt_email",
    "name",
    "legal_name",
    "first_name",
    "last_name",
    "phone",
    "phone_number",
    "street",
    "line1",
    "line2",
    "address_line1",
    "address_line2",
    "postal_code",
    "ip_address",
];

/// Response headers worth keeping in a fixture; every other header is dropped.
const KEPT_HEADERS: [&str; 6] = [
    "content-type",
    "request-id",
    "x-request-id",
    "stripe-should-retry",
    "retry-after",
    "stripe-version",
];

/// Scrubs a JSON value in place: credential and personal fields by key, e-mail addresses and
/// card numbers wherever they appear in a string.
pub fn scrub(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                let sensitive =
                    SECRET_KEYS.contains(&key.as_str()) || PERSONAL_KEYS.contains(&key.as_str());
                if sensitive && !value.is_null() && !value.is_object() && !value.is_array() {
                    *value = Value::String(SCRUBBED.to_owned());
                } else {
                    scrub(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::String(text) => *text = scrub_text(text),
        _ => {}
    }
}

/// Scrubs free text: e-mail addresses become `[SCRUBBED]`, card numbers keep their last four.
pub fn scrub_text(text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            if looks_like_email(word) {
                SCRUBBED.to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect();
    mask_card_numbers(&words.join(" "))
}

fn looks_like_email(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    match word.split_once('@') {
        Some((user, domain)) => {
            !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
        }
        None => false,
    }
}

/// Masks every run of 13 to 19 digits (spaces or dashes allowed between them) but its last four.
fn mask_card_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            // Take the longest run of digits and single separators.
            let mut end = i;
            let mut digits = 0;
            let mut last_digit_end = i;
            while end < chars.len() {
                if chars[end].is_ascii_digit() {
                    digits += 1;
                    last_digit_end = end + 1;
                } else if !(matches!(chars[end], ' ' | '-')
                    && end + 1 < chars.len()
                    && chars[end + 1].is_ascii_digit())
                {
                    break;
                }
                end += 1;
            }
            let run: String = chars[i..last_digit_end].iter().collect();
            if (13..=19).contains(&digits) {
                let kept: String = run
                    .chars()
                    .filter(char::is_ascii_digit)
                    .skip(digits - 4)
                    .collect();
                out.push_str(&"*".repeat(digits - 4));
                out.push_str(&kept);
            } else {
                out.push_str(&run);
            }
            i = last_digit_end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Writes a scenario file for the reply paystat got for `id`, scrubbed, with the expectation
/// paystat concluded (to be confirmed by the reviewer) and a placeholder requirement.
pub fn scenario_text(
    gateway: GatewayKind,
    id: &str,
    reply: &Reply,
    result: &CheckResult,
) -> String {
    let body = match serde_json::from_slice::<Value>(&reply.body) {
        Ok(mut json) => {
            scrub(&mut json);
            serde_json::to_string_pretty(&json).expect("a JSON value serializes")
        }
        Err(_) => scrub_text(&String::from_utf8_lossy(&reply.body)),
    };
    let situation = match (&result.gateway_status, reply.status) {
        (Some(word), 200) => format!("status:{word}"),
        (_, status) => format!("http:{status}"),
    };
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Recorded by `paystat record`; scrubbed of credentials and personal data."
    );
    let _ = writeln!(
        out,
        "# Review the body and the expectation, then write the title and requirement."
    );
    let _ = writeln!(out, "title = {}", q("TODO: name this situation"));
    let _ = writeln!(
        out,
        "requirement = \"\"\"\n{REQUIREMENT_PLACEHOLDER}\n\"\"\""
    );
    let _ = writeln!(out, "gateway = {}", q(gateway.as_str()));
    let _ = writeln!(out, "payment_id = {}", q(id));
    let _ = writeln!(out, "situation = {}\n", q(&situation));
    let _ = writeln!(out, "[response]\nstatus = {}", reply.status);
    let headers: Vec<String> = reply
        .headers
        .iter()
        .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| format!("{} = {}", q(name.as_str()), q(&scrub_text(v))))
        })
        .collect();
    if !headers.is_empty() {
        let _ = writeln!(out, "headers = {{ {} }}", headers.join(", "));
    }
    let long_string = |name: &str, text: &str| {
        if text.contains("'''") {
            format!("{name} = {}\n", q(text))
        } else {
            format!("{name} = '''\n{text}\n'''\n")
        }
    };
    out.push_str(&long_string("body", &body));
    // The follow-up this reply called for (Stripe's dispute list), so the scenario replays whole.
    if let Some(second) = reply.follow_up.as_deref().filter(|r| r.status == 200) {
        let list = match serde_json::from_slice::<Value>(&second.body) {
            Ok(mut json) => {
                scrub(&mut json);
                serde_json::to_string_pretty(&json).expect("a JSON value serializes")
            }
            Err(_) => scrub_text(&String::from_utf8_lossy(&second.body)),
        };
        out.push_str(&long_string("disputes", &list));
    }
    let _ = writeln!(out, "\n[expect]\noutcome = {}", q(result.outcome.as_str()));
    if let Some(status) = result.status {
        let _ = writeln!(out, "status = {}", q(status.as_str()));
    }
    let currency = result.currency_code().map(str::to_owned);
    let finality = result.finality.map(|f| f.as_str().to_owned());
    let strings = [
        ("gateway_status", &result.gateway_status),
        ("currency", &currency),
        ("failure_code", &result.failure_code),
        ("gateway_request_id", &result.gateway_request_id),
        ("dispute_status", &result.dispute_status),
        ("final_after", &result.final_after),
        ("finality", &finality),
    ];
    let numbers = [
        ("amount_minor", result.amount_minor()),
        ("amount_requested_minor", result.amount_requested_minor),
        ("amount_refunded_minor", result.amount_refunded_minor),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            let _ = writeln!(out, "{key} = {value}");
        }
    }
    if let Some(pending) = result.refund_pending {
        let _ = writeln!(out, "refund_pending = {pending}");
    }
    for (key, value) in strings {
        if let Some(value) = value {
            let _ = writeln!(out, "{key} = {}", q(value));
        }
    }
    let _ = writeln!(out, "http_status = {}", reply.status);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_keep_their_last_four() {
        assert_eq!(
            mask_card_numbers("card 4242424242424242 ok"),
            "card ************4242 ok"
        );
        assert_eq!(mask_card_numbers("4000-0566-5566-5556"), "************5556");
        assert_eq!(
            mask_card_numbers("4000 0566 5566 5556."),
            "************5556."
        );
        assert_eq!(
            mask_card_numbers("amount 150000 on 2025-01-06"),
            "amount 150000 on 2025-01-06"
        );
        assert_eq!(
            mask_card_numbers("created 1680800504"),
            "created 1680800504"
        );
    }

    #[test]
    fn emails_in_text() {
        assert_eq!(
            scrub_text("mail a.b@example.com now"),
            "mail [SCRUBBED] now"
        );
        assert_eq!(scrub_text("no @ here"), "no @ here");
    }
}
