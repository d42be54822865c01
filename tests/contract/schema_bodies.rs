//! Bodies the providers may legitimately send — generated within their published JSON Schemas:
//! every status, optional fields absent or null, extra unknown fields, large amounts, every
//! currency exponent — are all accepted by the adapters, exactly. paystat never rejects what a
//! provider may send.

use paystat::GatewayKind;
use paystat::contract::ProviderSchemas;
use paystat::gateways::{Gateway, Reply, Verdict};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Currencies of every ISO 4217 exponent: 0 (JPY, KRW), 2 (USD, EUR), 3 (BHD, KWD).
const CURRENCIES: [(&str, u32); 6] = [
    ("JPY", 0),
    ("KRW", 0),
    ("USD", 2),
    ("EUR", 2),
    ("BHD", 3),
    ("KWD", 3),
];

/// Fields no provider documents, which a tolerant parser ignores.
fn extra_fields() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(
        "x_[a-z]{1,8}",
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            "[a-z ]{0,10}".prop_map(Value::from)
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// An amount in minor units, small or near the 64-bit limit of what paystat can hold.
fn minor_units() -> impl Strategy<Value = i64> {
    prop_oneof![0i64..100_000, 0i64..i64::MAX / 1000, Just(0)]
}

/// Major-unit decimal text for `minor` in a currency of `exponent`.
fn major_text(minor: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exponent);
    format!(
        "{}.{:0width$}",
        minor / scale,
        minor % scale,
        width = exponent as usize
    )
}

fn maybe_null<T: Strategy<Value = Value>>(value: T) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![Just(None), Just(Some(Value::Null)), value.prop_map(Some)]
}

fn ledger_body() -> impl Strategy<Value = (String, i64, &'static str)> {
    (
        proptest::sample::select(vec!["completed", "pending", "failed"]),
        proptest::sample::select(CURRENCIES.to_vec()),
        minor_units(),
        proptest::option::of(Just("2025-01-06T10:30:00Z")),
        proptest::option::of("[a-z_]{3,20}"),
        extra_fields(),
    )
        .prop_map(
            |(status, (currency, exponent), minor, created, error_code, extra)| {
                let mut body = json!({"id": "txn_001", "status": status, "currency": currency});
                if let Some(created) = created {
                    body["created_at"] = json!(created);
                }
                if let Some(code) = error_code {
                    body["error_code"] = json!(code);
                }
                body.as_object_mut().unwrap().extend(extra);
                // The amount is a JSON number written with the currency's decimals, as the ledger
                // does; it is spliced in as text because serde_json's Value would hold it as an f64.
                let text = body.to_string();
                let text = format!(
                    "{}, \"amount\": {}}}",
                    &text[..text.len() - 1],
                    major_text(minor, exponent)
                );
                (text, minor, currency)
            },
        )
}

fn stripe_body() -> impl Strategy<Value = (String, i64, &'static str)> {
    let statuses = vec![
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
        "processing",
        "requires_capture",
        "canceled",
        "succeeded",
    ];
    let reasons = vec![
        "abandoned",
        "automatic",
        "duplicate",
        "expired",
        "failed_invoice",
        "fraudulent",
        "requested_by_customer",
        "void_invoice",
    ];
    (
        proptest::sample::select(statuses),
        proptest::sample::select(CURRENCIES.to_vec()),
        minor_units(),
        maybe_null(proptest::sample::select(reasons).prop_map(Value::from)),
        maybe_null(Just(json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."}))),
        maybe_null("ch_[A-Za-z0-9]{10}".prop_map(Value::from)),
        any::<bool>(),
        extra_fields(),
    )
        .prop_map(|(status, (currency, _), minor, reason, error, charge, livemode, extra)| {
            let mut body = json!({
                "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": minor,
                "currency": currency.to_ascii_lowercase(), "status": status, "created": 1_680_800_504, "livemode": livemode,
            });
            for (key, value) in [("cancellation_reason", reason), ("last_payment_error", error), ("latest_charge", charge)] {
                if let Some(value) = value {
                    body[key] = value;
                }
            }
            body.as_object_mut().unwrap().extend(extra);
            (body.to_string(), minor, currency)
        })
}

fn plaid_body() -> impl Strategy<Value = (String, i64, &'static str)> {
    let statuses = vec![
        "pending",
        "posted",
        "settled",
        "funds_available",
        "cancelled",
        "failed",
        "returned",
    ];
    (
        proptest::sample::select(statuses),
        proptest::sample::select(CURRENCIES.to_vec()),
        minor_units(),
        proptest::sample::select(vec!["debit", "credit"]),
        proptest::sample::select(vec!["ach", "same-day-ach", "rtp", "wire"]),
        maybe_null(Just(json!({"failure_code": "R01", "description": "Insufficient funds"}))),
        extra_fields(),
    )
        .prop_map(|(status, (currency, exponent), minor, kind, network, failure, extra)| {
            let mut transfer = json!({
                "id": "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9", "amount": major_text(minor, exponent),
                "iso_currency_code": currency, "status": status, "created": "2024-07-29T20:22:21Z",
                "type": kind, "network": network, "cancellable": false,
                "failure_reason": failure.unwrap_or(Value::Null),
            });
            transfer.as_object_mut().unwrap().extend(extra);
            (json!({"transfer": transfer, "request_id": "saKrIBuEB9qJZno"}).to_string(), minor, currency)
        })
}

fn accepts(
    kind: GatewayKind,
    id: &str,
    body: &str,
    minor: i64,
    currency: &str,
) -> Result<(), TestCaseError> {
    let bytes = body.as_bytes().to_vec();
    static SCHEMAS: std::sync::LazyLock<ProviderSchemas> =
        std::sync::LazyLock::new(ProviderSchemas::embedded);
    let schemas = &*SCHEMAS;
    // The generator stays inside the provider's published shape.
    prop_assert!(
        schemas.check(kind, 200, &bytes).is_ok(),
        "generated body is off-spec: {:?}",
        schemas.check(kind, 200, &bytes)
    );
    let gateway: std::sync::Arc<dyn Gateway> = crate::helpers::gateway(kind, "http://127.0.0.1:1");
    let reading = gateway.read(
        id,
        &Reply {
            follow_up: None,
            status: 200,
            headers: Default::default(),
            body: bytes,
        },
    );
    match reading.verdict {
        Verdict::Found(payment) => {
            prop_assert_eq!(
                payment.amount.amount_minor,
                minor,
                "the amount must be exact"
            );
            prop_assert_eq!(payment.amount.currency_code(), currency);
        }
        Verdict::NoPayment { detail, .. } => prop_assert!(
            false,
            "{} rejected a valid body: {}\n{}",
            kind,
            detail,
            body
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_accepts_every_valid_payment((body, minor, currency) in ledger_body()) {
        accepts(GatewayKind::Ledger, "txn_001", &body, minor, currency)?;
    }

    #[test]
    fn stripe_accepts_every_valid_payment_intent((body, minor, currency) in stripe_body()) {
        accepts(GatewayKind::Stripe, "pi_3MtwBwLkdIwHu7ix28a3tqPa", &body, minor, currency)?;
    }

    #[test]
    fn plaid_accepts_every_valid_transfer((body, minor, currency) in plaid_body()) {
        accepts(GatewayKind::Plaid, "460cbe92-2dcc-8eae-5ad6-b37d0ec90fd9", &body, minor, currency)?;
    }
}

#[test]
fn the_mock_answers_an_unknown_id_as_the_gateway_would() {
    let schemas = ProviderSchemas::embedded();
    for kind in GatewayKind::ALL {
        let (status, body) = paystat::contract::unknown_id_reply(kind);
        let body = body.to_string().into_bytes();
        assert_eq!(schemas.check(kind, status, &body), Ok(()), "{kind}");
        let reply = Reply {
            follow_up: None,
            status,
            headers: Default::default(),
            body,
        };
        let gateway = crate::helpers::gateway(kind, "http://127.0.0.1:1");
        let reading = gateway.read(crate::helpers::sample_id(kind), &reply);
        assert_eq!(
            reading.verdict.outcome(),
            paystat::Outcome::NotFound,
            "{kind}"
        );
    }
}
