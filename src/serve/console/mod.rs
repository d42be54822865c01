//! The Operations console: one page served at `/` (HTML, CSS and JavaScript written for it and
//! embedded in the binary; no framework, no build step, nothing from another origin). The page
//! and its two assets hold no data and are served without a token; every call the page makes
//! carries the person's token, and the service decides what it may do. `GET /v1/whoami` tells
//! the page whose token it holds and its role, so it shows only what that role may do.
//!
//! Every response of the page carries a strict Content Security Policy (the page's own origin
//! only, no inline script or style, no frames), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`.

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::access::Authed;

/// The page.
pub const INDEX: &str = include_str!("index.html");
/// Its style sheet.
pub const STYLE: &str = include_str!("console.css");
/// Its script.
pub const SCRIPT: &str = include_str!("console.js");

/// The Content Security Policy of the page and its assets: its own origin only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn page(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /`: the console.
pub async fn index() -> Response {
    page(INDEX, "text/html; charset=utf-8")
}

/// `GET /console.css`.
pub async fn style() -> Response {
    page(STYLE, "text/css; charset=utf-8")
}

/// `GET /console.js`.
pub async fn script() -> Response {
    page(SCRIPT, "text/javascript; charset=utf-8")
}

/// Whose token a request carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The token's actor (the audit lines' `actor`).
    pub actor: String,
    /// `ops`, `compliance` or `admin`.
    pub role: &'static str,
}

/// `GET /v1/whoami`: the token's actor and role.
#[utoipa::path(
    get,
    path = "/v1/whoami",
    responses(
        (status = 200, description = "The token's actor and role", body = WhoAmI),
        (status = 401, description = "No token, or one unknown, expired or revoked", body = super::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn whoami(Extension(authed): Extension<Authed>) -> Response {
    axum::Json(WhoAmI {
        actor: authed.caller.actor.clone(),
        role: authed.token.role.name(),
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    /// The script's table of ISO 4217 exponents other than 2, read back from the script.
    fn script_exponents() -> std::collections::BTreeMap<String, u16> {
        let line = super::SCRIPT
            .lines()
            .find(|l| l.trim_start().starts_with("const EXPONENTS = {"))
            .expect("the script has its table of exponents");
        let inner = line.split('{').nth(1).unwrap().split('}').next().unwrap();
        inner
            .split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| {
                let (code, exponent) = pair.split_once(':').unwrap();
                (code.trim().to_owned(), exponent.trim().parse().unwrap())
            })
            .collect()
    }

    /// The page formats amounts with ISO 4217's exponents, as paystat's money does (not the
    /// browser's CLDR digits, which differ for some currencies): every currency whose exponent
    /// is not 2 is in the script's table with its exponent, and nothing else is.
    #[test]
    fn the_scripts_exponents_are_iso_4217s() {
        let mut expected = std::collections::BTreeMap::new();
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                for c in b'A'..=b'Z' {
                    let code = String::from_utf8(vec![a, b, c]).unwrap();
                    let Some(currency) = iso_currency::Currency::from_code(&code) else {
                        continue;
                    };
                    if let Some(exponent) = currency.exponent().filter(|e| *e != 2) {
                        expected.insert(code, exponent);
                    }
                }
            }
        }
        assert_eq!(script_exponents(), expected);
    }

    #[test]
    fn the_page_weighs_under_100_kb_and_loads_nothing_from_elsewhere() {
        let weight = super::INDEX.len() + super::STYLE.len() + super::SCRIPT.len();
        assert!(weight <= 100 * 1024, "{weight} bytes");
        for text in [super::INDEX, super::STYLE, super::SCRIPT] {
            assert!(!text.contains("http://") && !text.contains("https://"));
            assert!(!text.contains("innerHTML") && !text.contains("insertAdjacentHTML"));
            assert!(!text.contains("eval(") && !text.contains("document.write"));
        }
    }
}
